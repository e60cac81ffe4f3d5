import { apiRoute } from "@/lib/api/http";
import { fanoutCodeParam } from "@/lib/api/schemas";
import { fanoutDetail } from "@/lib/api/serialize";
import { fanoutCockpit } from "@/lib/tasks/fanout-queries";

export const GET = apiRoute<{ code: string }>(async ({ db, actor, params }) => fanoutDetail(await fanoutCockpit({ db, actor }, fanoutCodeParam(params.code))));
