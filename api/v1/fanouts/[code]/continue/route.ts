import { fanoutVerbRoute } from "@/lib/api/fanout-routes";
import { continueFanout } from "@/lib/tasks/rollout";

// Opens the next wave of a staged rollout whose open wave has finished; 409 when it waits for nothing.
export const PUT = fanoutVerbRoute((ctx, code) => continueFanout(ctx, code));
