import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { getDb } from "../../db/client";
import { sha256 } from "../crypto";
import { RateLimitedError } from "../errors";
import { sharedLimiter, takePoint } from "./limits";

/** Enrollment attempts per client address per minute, whatever their outcome. */
export const ENROLL_PER_ADDRESS_PER_MINUTE = 120;
/** Enrollment attempts per registration token per minute, from all addresses together. */
export const ENROLL_PER_TOKEN_PER_MINUTE = 300;

/**
 * Enrollment is the one unauthenticated write: each attempt is a transaction, and a leaked
 * registration token must not let anyone fill an organization with devices at full speed.
 * Generous enough for a fleet rolling out (agents wait `Retry-After` and try again). Counted
 * by every node together (lib/server/limits.ts).
 */
export class EnrollThrottle {
  private limiters: { byAddress: RateLimiterAbstract; byToken: RateLimiterAbstract } | undefined;

  /** Made on first use, on the process's database. */
  private made() {
    return (this.limiters ??= {
      byAddress: sharedLimiter(getDb(), { points: ENROLL_PER_ADDRESS_PER_MINUTE, duration: 60, keyPrefix: "enroll-addr" }),
      byToken: sharedLimiter(getDb(), { points: ENROLL_PER_TOKEN_PER_MINUTE, duration: 60, keyPrefix: "enroll-token" }),
    });
  }

  /** Counts an attempt from `address`; throws RateLimitedError past the limit. */
  address(address: string): Promise<void> {
    return take(this.made().byAddress, address, "Too many enrollment attempts from this address");
  }

  /** Counts an attempt with `token`; throws RateLimitedError past the limit. */
  token(token: unknown): Promise<void> {
    if (typeof token !== "string" || !token) return Promise.resolve();
    // Counted under its hash: what a caller sends is any text of any length until parsed.
    return take(this.made().byToken, sha256(token), "Too many enrollments with this registration token");
  }
}

/** A limiter's own fault fails the enrollment: the one unauthenticated write is not let through unlimited. */
async function take(limiter: RateLimiterAbstract, key: string, message: string): Promise<void> {
  const taken = await takePoint(limiter, key);
  if (taken.ok) return;
  const seconds = Math.max(1, Math.ceil(taken.retryInMs / 1000));
  throw new RateLimitedError(`${message}; try again in ${seconds} s`, seconds);
}
