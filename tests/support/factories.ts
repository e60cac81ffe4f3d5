import { randomUUID } from "node:crypto";
import { user } from "../../db/schema";
import type { Db } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import type { Actor } from "../../lib/actor";
import type { Role } from "../../rules/roles";
import { createDevice } from "../../lib/devices/devices";
import type { DeviceStatus } from "../../rules/devices";
import { createOrganization } from "../../lib/orgs/orgs";
import { member } from "../../db/schema";

let seq = 0;
const next = () => `${Date.now().toString(36)}${(seq++).toString(36)}`;

/** A user row without a password account: enough for domain tests, which never sign in. */
export async function makeUser(db: Db, email = `user-${next()}@example.test`) {
  return withTransaction({ db }, async (tx) => (await tx.insert(user).values({ id: randomUUID(), email, name: email.split("@")[0], emailVerified: true }).returning())[0]);
}

/** An organization with an ADMIN owner, and an actor of the requested role in it. */
export async function makeOrg(db: Db, opts: { role?: Role; slug?: string } = {}) {
  const owner = await makeUser(db);
  const org = await createOrganization({ db }, { name: `Org ${next()}`, slug: opts.slug ?? `org-${next()}`, ownerId: owner.id });
  const role = opts.role ?? "ADMIN";
  let actorUser = owner;
  if (role !== "ADMIN") {
    const joined = await makeUser(db);
    actorUser = joined;
    await withTransaction({ db }, async (tx) => {
      await tx.insert(member).values({ id: randomUUID(), organizationId: org.id, userId: joined.id, role, createdAt: new Date() });
    });
  }
  const actor: Actor = { organizationId: org.id, userId: actorUser.id, role, label: actorUser.email };
  return { org, owner, actor };
}

export function actorAs(base: Actor, role: Role): Actor {
  return { ...base, role };
}

/** `count` devices of one organization, created in one transaction. */
export async function makeDevices(db: Db, organizationId: string, count: number, opts: { prefix?: string; status?: DeviceStatus; ous?: string[] } = {}) {
  const prefix = opts.prefix ?? `fw-${next()}`;
  return withTransaction({ db }, async (tx) => {
    const made = [];
    for (let i = 0; i < count; i++) {
      made.push(await createDevice({ db: tx }, { organizationId, name: `${prefix}-${i + 1}`, status: opts.status ?? "ENABLED", ous: opts.ous }));
    }
    return made;
  });
}
