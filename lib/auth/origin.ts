import type { IncomingHttpHeaders } from "node:http";
import { readEnv } from "../env";

// The one rule for "this request comes from this site": every cookie-carrying way in (the
// JSON API's writes, server actions, better-auth, the /live socket) asks it.

type HeaderSource = Headers | IncomingHttpHeaders;

function header(h: HeaderSource, name: string): string | undefined {
  const v = h instanceof Headers ? h.get(name) : h[name];
  const first = Array.isArray(v) ? v[0] : v;
  // A proxy may append: the first value is the one the client's proxy set.
  return first?.split(",")[0]?.trim() || undefined;
}

let settings: { publicOrigin: string | null; trustProxy: boolean } | undefined;

function config() {
  if (!settings) {
    const env = readEnv();
    let publicOrigin: string | null = null;
    try {
      publicOrigin = env.BETTER_AUTH_URL ? new URL(env.BETTER_AUTH_URL).origin : null;
    } catch {
      publicOrigin = null;
    }
    settings = { publicOrigin, trustProxy: env.TASKWIRE_TRUST_PROXY };
  }
  return settings;
}

/**
 * The origin this server was reached at, as scheme://host. The server speaks plain http;
 * only behind a trusted proxy (TASKWIRE_TRUST_PROXY=1) do X-Forwarded-Proto and
 * X-Forwarded-Host say otherwise — a client cannot set them to pass as another site.
 */
export function requestOrigin(h: HeaderSource): string | null {
  const { trustProxy } = config();
  const host = (trustProxy ? header(h, "x-forwarded-host") : undefined) ?? header(h, "host");
  if (!host) return null;
  const proto = (trustProxy ? header(h, "x-forwarded-proto") : undefined) ?? "http";
  if (proto !== "http" && proto !== "https") return null;
  try {
    return new URL(`${proto}://${host}`).origin;
  } catch {
    return null;
  }
}

/** The origins a browser page of this console can have: the public URL, and the one it was reached at. */
export function allowedOrigins(h: HeaderSource): string[] {
  const own = requestOrigin(h);
  const { publicOrigin } = config();
  return [...new Set([publicOrigin, own].filter((o): o is string => !!o))];
}

/** Whether an Origin header names this site: scheme, host and port all equal. "null" never does. */
export function isSameOrigin(origin: string | null | undefined, h: HeaderSource): boolean {
  if (!origin || origin === "null") return false;
  let parsed: string;
  try {
    parsed = new URL(origin).origin;
  } catch {
    return false;
  }
  return allowedOrigins(h).includes(parsed);
}

/**
 * The client's address, as server.ts settles it into X-Forwarded-For for every request and
 * websocket handshake before anything reads it: the socket's address; or, behind a trusted
 * proxy, the last address X-Forwarded-For names — the one the proxy appended itself. What
 * comes before it is whatever the client sent, and counting by that would let a client pass
 * for any address (and spend another's allowance).
 */
export function settledAddress(forwardedFor: string | string[] | undefined, socketAddress: string | undefined): string {
  const unknown = socketAddress ?? "unknown";
  if (!config().trustProxy) return unknown;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? "")).split(",");
  return hops[hops.length - 1].trim() || unknown;
}

/** The client's address as server.ts settled it (settledAddress). */
export function clientAddress(headers: HeaderSource): string {
  return header(headers, "x-forwarded-for") ?? "unknown";
}
