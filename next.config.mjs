// @ts-check
// Plain JavaScript: Next reads this file when it starts, and a TypeScript one it compiles
// with SWC, a native library (27 MB resident, and a runtime of its own threads) that then
// stays loaded for the server's life.
import { ACTION_BODY_LIMIT_BYTES } from "./lib/server/action-limit.mjs";

/** The public host (BETTER_AUTH_URL), when the console is reached through a proxy that does not forward its own. */
function publicHost() {
  try {
    return process.env.BETTER_AUTH_URL ? [new URL(process.env.BETTER_AUTH_URL).host] : [];
  } catch {
    return [];
  }
}

/** @type {import("next").NextConfig} */
const config = {
  // A separate build folder lets tests build beside a running console without clobbering it.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  poweredByHeader: false,
  // Loaded by Node itself: its database stores import their drivers at run time.
  serverExternalPackages: ["rate-limiter-flexible"],
  reactStrictMode: true,
  // `npm test` type-checks the whole project (tsc --noEmit) before it builds; checking
  // again inside the build would only double the slowest step on a 2-core machine.
  typescript: { ignoreBuildErrors: true },
  // Every browser gets the page's <title> in the first HTML rather than streamed in after
  // the body: a screen reader announces it on load, and no page is ever without one (the
  // metadata here is static, so waiting for it costs nothing).
  htmlLimitedBots: /.*/,
  experimental: {
    // server.ts refuses foreign origins and oversized bodies first (lib/server/request-guard.ts),
    // with a 403 or 413; Next's own checks agree with it, so they never answer a 500 instead.
    serverActions: { bodySizeLimit: ACTION_BODY_LIMIT_BYTES, allowedOrigins: publicHost() },
  },
};

export default config;
