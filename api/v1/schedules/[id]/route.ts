import { apiRoute, readJson } from "@/lib/api/http";
import { scheduleDetailView } from "@/lib/api/schedules";
import { deleteSchedule, getSchedule, updateSchedule } from "@/lib/schedules/schedules";

export const GET = apiRoute<{ id: string }>(async ({ db, actor, params }) => scheduleDetailView(await getSchedule({ db, actor }, params.id)));

/** Replaces the schedule's spec, recurrence and state (the whole body, as POST takes it). */
export const PUT = apiRoute<{ id: string }>(async ({ req, db, actor, params }) => {
  await updateSchedule({ db, actor }, params.id, await readJson(req));
  return scheduleDetailView(await getSchedule({ db, actor }, params.id));
});

export const DELETE = apiRoute<{ id: string }>(async ({ db, actor, params }) => {
  await deleteSchedule({ db, actor }, params.id);
  return { deleted: Number(params.id) };
});
