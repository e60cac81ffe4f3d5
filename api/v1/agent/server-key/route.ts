import { publicRoute } from "@/lib/api/http";
import { getServerKey } from "@/lib/agents/keys";

/** The key agents verify task envelopes with. */
export const GET = publicRoute(() => ({ algorithm: "Ed25519", public_key: getServerKey().publicKeyPem }));
