import { apiRoute, created, readJson } from "@/lib/api/http";
import { scheduleView } from "@/lib/api/schedules";
import { createSchedule, listSchedules } from "@/lib/schedules/schedules";

export const GET = apiRoute(async ({ db, actor }) => ({ items: (await listSchedules({ db, actor })).map(scheduleView) }));

/** Creates a schedule (READ_WRITE); its owner is the caller, whose role its runs act with. */
export const POST = apiRoute(async ({ req, db, actor }) => created(scheduleView(await createSchedule({ db, actor }, await readJson(req)))));
