import type { ActorCtx } from "@/lib/actor";
import { fanoutCockpit } from "@/lib/tasks/fanout-queries";
import { apiRoute } from "./http";
import { fanoutCodeParam } from "./schemas";
import { fanoutDetail } from "./serialize";

/** PUT /api/v1/fanouts/{code}/<verb>: the verb, then the fan-out as it is then. */
export function fanoutVerbRoute(verb: (ctx: ActorCtx, code: string) => Promise<unknown>) {
  return apiRoute<{ code: string }>(async ({ db, actor, params }) => {
    const code = fanoutCodeParam(params.code);
    await verb({ db, actor }, code);
    return fanoutDetail(await fanoutCockpit({ db, actor }, code));
  });
}
