import { apiRoute } from "@/lib/api/http";
import { taskCodeParam } from "@/lib/api/schemas";
import { taskDetail } from "@/lib/api/serialize";
import { getTask } from "@/lib/tasks/queries";

export const GET = apiRoute<{ code: string }>(async ({ db, actor, params }) => taskDetail(await getTask({ db, actor }, taskCodeParam(params.code))));
