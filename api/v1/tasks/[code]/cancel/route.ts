import { apiRoute } from "@/lib/api/http";
import { taskCodeParam } from "@/lib/api/schemas";
import { taskDetail } from "@/lib/api/serialize";
import { getTask } from "@/lib/tasks/queries";
import { cancelTask } from "@/lib/tasks/verbs";

export const PUT = apiRoute<{ code: string }>(async ({ db, actor, params }) => {
  const code = taskCodeParam(params.code);
  await cancelTask({ db, actor }, code);
  return taskDetail(await getTask({ db, actor }, code));
});
