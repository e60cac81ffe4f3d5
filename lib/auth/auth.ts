import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { nextCookies } from "better-auth/next-js";
import { organization } from "better-auth/plugins";
import { createAccessControl } from "better-auth/plugins/access";
import { defaultStatements } from "better-auth/plugins/organization/access";
import { getDb } from "../../db/client";
import * as schema from "../../db/schema";
import { readEnv } from "../env";

// better-auth's own organization endpoints (members, invitations) follow the same three
// roles; Taskwire's verbs check roles themselves through requireRole.
const statements = { ...defaultStatements, task: ["read", "write"], device: ["read", "write"] } as const;
const ac = createAccessControl(statements);
const roles = {
  READ_ONLY: ac.newRole({ task: ["read"], device: ["read"] }),
  READ_WRITE: ac.newRole({ task: ["read", "write"], device: ["read", "write"] }),
  ADMIN: ac.newRole({
    ...defaultStatements,
    organization: ["update"],
    task: ["read", "write"],
    device: ["read", "write"],
  }),
};

function createAuth() {
  const env = readEnv();
  if (!env.BETTER_AUTH_SECRET) throw new Error("BETTER_AUTH_SECRET is not set; the server generates one on first start");
  return betterAuth({
    secret: env.BETTER_AUTH_SECRET,
    baseURL: env.BETTER_AUTH_URL,
    // Without a fixed public URL the console answers on whatever host it is reached by:
    // trust exactly the request's own origin (a same-origin check), plus any configured URL.
    trustedOrigins: (request) => {
      const host = request?.headers.get("host");
      const proto = env.TASKWIRE_SECURE_COOKIES ? "https" : "http";
      return [env.BETTER_AUTH_URL, host ? `${proto}://${host}` : undefined];
    },
    database: drizzleAdapter(getDb(), { provider: "sqlite", schema }),
    emailAndPassword: { enabled: true, minPasswordLength: 8, disableSignUp: true },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    // On in every mode, not only production: sign-in is the door to the fleet.
    rateLimit: {
      enabled: true,
      window: 60,
      max: 300,
      storage: "memory",
      customRules: { "/sign-in/email": { window: 60, max: env.TASKWIRE_SIGNIN_PER_MINUTE } },
    },
    advanced: {
      useSecureCookies: env.TASKWIRE_SECURE_COOKIES,
      // server.ts overwrites x-forwarded-for with the socket's address unless a proxy is
      // trusted, so this header cannot be forged to dodge the sign-in limit.
      ipAddress: { ipAddressHeaders: ["x-forwarded-for"] },
      database: { generateId: () => crypto.randomUUID() },
    },
    plugins: [organization({ ac, roles, creatorRole: "ADMIN", allowUserToCreateOrganization: false }), nextCookies()],
  });
}

export type Auth = ReturnType<typeof createAuth>;

const KEY = Symbol.for("taskwire.auth");

/** The process's auth instance, created on first use and shared through globalThis. */
export function getAuth(): Auth {
  const holder = globalThis as { [KEY]?: Auth };
  return (holder[KEY] ??= createAuth());
}
