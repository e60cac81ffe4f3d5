import { created, publicRoute, readJson } from "@/lib/api/http";
import { enrollDevice } from "@/lib/devices/enrollment";
import { clientAddress } from "@/lib/auth/origin";
import { EnrollThrottle } from "@/lib/server/enroll-throttle";

const throttle = new EnrollThrottle();

/** Agents enroll with their organization's registration token (docs/agent-protocol.md). */
export const POST = publicRoute(async ({ req, db }) => {
  // The address is counted before the body is parsed; the token once it is known.
  await throttle.address(clientAddress(req.headers));
  const body = await readJson(req);
  await throttle.token((body as { registration_token?: unknown } | null)?.registration_token);
  const r = await enrollDevice({ db }, body);
  return created({ device_id: r.deviceId, device_token: r.deviceToken, status: r.status });
});
