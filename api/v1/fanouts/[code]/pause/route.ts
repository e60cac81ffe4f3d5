import { fanoutVerbRoute } from "@/lib/api/fanout-routes";
import { pauseFanout } from "@/lib/tasks/fanout-verbs";

// 409 when the fan-out's state does not allow it (finished, or already in that state).
export const PUT = fanoutVerbRoute((ctx, code) => pauseFanout(ctx, code));
