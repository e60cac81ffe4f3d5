import { apiRoute } from "@/lib/api/http";
import { fanoutCodeParam } from "@/lib/api/schemas";
import { fanoutDetail } from "@/lib/api/serialize";
import { fanoutCockpit } from "@/lib/tasks/fanout-queries";
import { cancelFanoutRest } from "@/lib/tasks/fanout-verbs";

// Cancels the rest: every task of the fan-out that has not run. Answers the fan-out as it is then.
export const PUT = apiRoute<{ code: string }>(async ({ db, actor, params }) => {
  const code = fanoutCodeParam(params.code);
  const { cancelled } = await cancelFanoutRest({ db, actor }, code);
  return { cancelled, fanout: fanoutDetail(await fanoutCockpit({ db, actor }, code)) };
});
