/** The largest server-action body, in bytes (lib/server/action-limit.mjs). */
export declare const ACTION_BODY_LIMIT_BYTES: number;
