import { created, otherMethods, publicRoute, readJson } from "@/lib/api/http";
import { enrollDevice } from "@/lib/devices/agents";

export const dynamic = "force-dynamic";

/** Agents enroll with their organization's registration token (docs/agent-protocol.md). */
export const POST = publicRoute(async ({ req, db }) => {
  const r = enrollDevice(db, await readJson(req));
  return created({ device_id: r.deviceId, device_token: r.deviceToken, status: r.status });
});

export const { GET, PUT, PATCH, DELETE } = otherMethods("POST");
