import { PROCESS_DIALECT } from "../../db/dialect";
import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { nextCookies } from "better-auth/next-js";
import { getDb } from "../../db/client";
import { withTransaction, writesThroughRunner } from "../../db/transaction";
import { createAuthMiddleware } from "better-auth/api";
import { recordSignIn } from "../audit/record";
import * as schema from "../../db/schema";
import { readEnv } from "../env";
import { publish } from "../events";
import { allowedOrigins, clientAddress } from "./origin";

// better-auth does one job here: passwords and sessions. Organizations, members, roles and
// invitations are Taskwire's own verbs (lib/orgs), so no better-auth plugin exposes a second
// way to change them; app/api/auth serves only the endpoints the console uses.

function createAuth() {
  const env = readEnv();
  if (!env.BETTER_AUTH_SECRET) throw new Error("BETTER_AUTH_SECRET is not set; the server generates one on first start");
  return betterAuth({
    secret: env.BETTER_AUTH_SECRET,
    baseURL: env.BETTER_AUTH_URL,
    // The same-site rule every cookie-carrying way in uses (lib/auth/origin.ts).
    trustedOrigins: (request) => (request ? allowedOrigins(request.headers) : env.BETTER_AUTH_URL ? [env.BETTER_AUTH_URL] : []),
    database: drizzleAdapter(writesThroughRunner(getDb()), { provider: PROCESS_DIALECT, schema }),
    emailAndPassword: { enabled: true, minPasswordLength: 8, maxPasswordLength: 128, disableSignUp: true },
    session: {
      expiresIn: 60 * 60 * 24 * 7,
      updateAge: 60 * 60 * 24,
      // Which organization the session works in; set only by Taskwire (lib/orgs/session.ts).
      additionalFields: { activeOrganizationId: { type: "string", required: false, input: false } },
    },
    hooks: {
      // Every sign-in, by the form or by a server action (setup), through or not: the audit trail.
      after: createAuthMiddleware(async (ctx) => {
        if (ctx.path !== "/sign-in/email") return;
        const email = (ctx.body as { email?: unknown } | undefined)?.email;
        if (typeof email !== "string") return;
        const ok = !!ctx.context.newSession;
        // A request refused before its password was checked (a malformed body) is not an attempt.
        if (!ok && (ctx.context.returned as { statusCode?: number } | undefined)?.statusCode !== 401) return;
        try {
          publish(await withTransaction({ db: getDb() }, (tx) => recordSignIn(tx, { email, ok, address: clientAddress(ctx.headers ?? new Headers()) })));
        } catch (e) {
          console.error("Recording a sign-in in the audit trail failed", e);
        }
      }),
    },
    databaseHooks: {
      session: {
        // A session better-auth ends (sign-out, expiry clean-up) has its live sockets closed at
        // once; one an ADMIN ends publishes the same event itself (lib/orgs/orgs.ts).
        delete: { after: async (s) => publish([{ kind: "access.changed", sessionId: s.id }]) },
      },
    },
    // On in every mode, not only production: sign-in is the door to the fleet.
    rateLimit: {
      enabled: true,
      window: 60,
      max: 300,
      // Several nodes count together in the database; one SQLite node in its memory.
      storage: PROCESS_DIALECT === "pg" ? "database" : "memory",
      customRules: { "/sign-in/email": { window: 60, max: env.TASKWIRE_SIGNIN_PER_MINUTE } },
    },
    advanced: {
      useSecureCookies: env.TASKWIRE_SECURE_COOKIES,
      // server.ts settles x-forwarded-for to one address (the socket's, or behind a trusted
      // proxy the one it appended: lib/auth/origin.ts), so it cannot be forged to dodge the
      // sign-in limit.
      ipAddress: { ipAddressHeaders: ["x-forwarded-for"] },
      database: { generateId: () => crypto.randomUUID() },
    },
    plugins: [nextCookies()],
  });
}

export type Auth = ReturnType<typeof createAuth>;

const KEY = Symbol.for("taskwire.auth");

/** The process's auth instance, created on first use and shared through globalThis. */
export function getAuth(): Auth {
  const holder = globalThis as { [KEY]?: Auth };
  return (holder[KEY] ??= createAuth());
}

/**
 * The only better-auth endpoints the console serves over HTTP, by method and path below
 * /api/auth. Everything else better-auth would answer (user updates, session lists,
 * password resets, sign-up…) is a 404: those changes go through Taskwire's verbs or do not
 * exist.
 */
export const AUTH_ROUTES = new Set(["POST /sign-in/email", "POST /sign-out", "GET /get-session"]);
