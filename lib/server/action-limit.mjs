// The largest server-action body, in bytes: next.config.mjs gives Next this limit and
// lib/server/request-guard.ts answers a larger body with a 413 before Next sees it. Plain
// JavaScript, so that Next reads its configuration without a TypeScript compiler.
export const ACTION_BODY_LIMIT_BYTES = 1024 * 1024;
