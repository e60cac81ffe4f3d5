import type { KeyObject } from "node:crypto";

export type ServerKey = { privateKey: KeyObject; publicKeyPem: string };

// Loaded once by server.ts; read by the dispatcher and the server-key route (another bundle).
const KEY = Symbol.for("taskwire.serverKey");

export function setServerKey(key: ServerKey): void {
  (globalThis as { [KEY]?: ServerKey })[KEY] = key;
}

export function getServerKey(): ServerKey {
  const key = (globalThis as { [KEY]?: ServerKey })[KEY];
  if (!key) throw new Error("The server signing key is not loaded");
  return key;
}
