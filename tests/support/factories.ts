import { randomUUID } from "node:crypto";
import { user } from "../../db/schema";
import type { Db } from "../../db/client";
import type { Actor } from "../../lib/auth/actor";
import type { Role } from "../../rules/roles";
import { createDevice } from "../../lib/devices/devices";
import type { DeviceStatus } from "../../rules/devices";
import { createOrganization } from "../../lib/orgs/orgs";
import { member } from "../../db/schema";

let seq = 0;
const next = () => `${Date.now().toString(36)}${(seq++).toString(36)}`;

/** A user row without a password account: enough for domain tests, which never sign in. */
export function makeUser(db: Db, email = `user-${next()}@example.test`) {
  return db.insert(user).values({ id: randomUUID(), email, name: email.split("@")[0], emailVerified: true }).returning().get();
}

/** An organization with an ADMIN owner, and an actor of the requested role in it. */
export function makeOrg(db: Db, opts: { role?: Role; slug?: string } = {}) {
  const owner = makeUser(db);
  const org = createOrganization(db, { name: `Org ${next()}`, slug: opts.slug ?? `org-${next()}`, ownerId: owner.id });
  const role = opts.role ?? "ADMIN";
  let actorUser = owner;
  if (role !== "ADMIN") {
    actorUser = makeUser(db);
    db.insert(member).values({ id: randomUUID(), organizationId: org.id, userId: actorUser.id, role, createdAt: new Date() }).run();
  }
  const actor: Actor = { organizationId: org.id, userId: actorUser.id, role, label: actorUser.email };
  return { org, owner, actor };
}

export function actorAs(base: Actor, role: Role): Actor {
  return { ...base, role };
}

export function makeDevices(db: Db, organizationId: string, count: number, opts: { prefix?: string; status?: DeviceStatus; ous?: string[] } = {}) {
  const prefix = opts.prefix ?? `fw-${next()}`;
  return Array.from({ length: count }, (_, i) =>
    createDevice(db, { organizationId, name: `${prefix}-${i + 1}`, status: opts.status ?? "ENABLED", ous: opts.ous }),
  );
}
