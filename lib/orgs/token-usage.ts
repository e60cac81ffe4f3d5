import { and, eq, isNull, lt, or } from "drizzle-orm";
import { isOpen, type Db } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { apiTokens } from "../../db/schema";

// A token's "last used" time is a hint in the admin's token list, not a record anything
// depends on: a request that only reads must never fail, nor wait on a locked database,
// because of it. Uses are noted in memory and written off the request's path, at most once
// per interval, in one transaction; a write that fails (a full disk, a locked database) is
// logged once and the times are kept for the next attempt. A crash loses at most the last
// interval's hints.

/** How long uses are gathered before they are written. */
export const TOKEN_USE_FLUSH_MS = 5_000;

type State = { pending: Map<string, number>; timer?: NodeJS.Timeout; failing: boolean };
const states = new WeakMap<Db, State>();

/** Notes that a token was used now; written within TOKEN_USE_FLUSH_MS. Never throws. */
export function noteTokenUse(db: Db, tokenId: string, at = Date.now()): void {
  let state = states.get(db);
  if (!state) states.set(db, (state = { pending: new Map(), failing: false }));
  state.pending.set(tokenId, Math.max(at, state.pending.get(tokenId) ?? 0));
  arm(db, state);
}

function arm(db: Db, state: State): void {
  if (state.timer) return;
  state.timer = setTimeout(() => {
    state.timer = undefined;
    void flushTokenUses(db);
  }, TOKEN_USE_FLUSH_MS);
  // A pending hint never keeps the process (or a test run) alive.
  state.timer.unref();
}

/** Writes the uses noted so far. Exported for shutdown and tests; never rejects. */
export async function flushTokenUses(db: Db): Promise<void> {
  const state = states.get(db);
  if (!state || !state.pending.size) return;
  if (!isOpen(db)) {
    state.pending.clear();
    return;
  }
  const uses = [...state.pending];
  state.pending.clear();
  try {
    await withTransaction({ db }, async (tx) => {
      // Never back in time: on several nodes another may have written a later use already.
      for (const [id, at] of uses) await tx.update(apiTokens).set({ lastUsedAt: new Date(at) }).where(and(eq(apiTokens.id, id), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, new Date(at)))));
    });
    if (state.failing) console.error("API token last-use times are recorded again");
    state.failing = false;
  } catch (e) {
    // Keep the times (a newer use of the same token wins) and try again at the next interval.
    for (const [id, at] of uses) state.pending.set(id, Math.max(at, state.pending.get(id) ?? 0));
    if (!state.failing) console.error("Could not record API token last-use times; retrying", e);
    state.failing = true;
    arm(db, state);
  }
}
