// lib/server/limits.ts: a point taken, an allowance used up and a limiter's own fault are
// three answers, and each way in (agents, the live channel, enrollment) weighs the fault.
import { RateLimiterMemory } from "rate-limiter-flexible";
import { afterEach, describe, expect, test, vi } from "vitest";
import { letThroughOnFault, passes, takePoint } from "../../lib/server/limits";

/** A limiter whose store is gone: every point it is asked for fails with an Error. */
class BrokenLimiter extends RateLimiterMemory {
  override async consume(): Promise<never> {
    throw new Error("store unreachable");
  }
}

afterEach(() => vi.restoreAllMocks());

describe("takePoint", () => {
  test("takes points until the allowance is used up, then says when the next one frees; other keys keep theirs", async () => {
    const limiter = new RateLimiterMemory({ points: 2, duration: 10 });
    expect(await takePoint(limiter, "a")).toEqual({ ok: true });
    expect(await takePoint(limiter, "a")).toEqual({ ok: true });
    const refused = await takePoint(limiter, "a");
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.retryInMs).toBeGreaterThan(0);
    expect(refused.retryInMs).toBeLessThanOrEqual(10_000);
    expect(await takePoint(limiter, "b")).toEqual({ ok: true });
  });

  test("a limiter's own fault rejects: it is not read as a limit reached", async () => {
    await expect(takePoint(new BrokenLimiter({ points: 2, duration: 10 }), "a")).rejects.toThrow("store unreachable");
  });

  test("letThroughOnFault logs the fault under its name and lets the caller through", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const ok = await takePoint(new BrokenLimiter({ points: 2, duration: 10 }), "a").then((t) => t.ok, letThroughOnFault("The test limiter failed"));
    expect(ok).toBe(true);
    expect(logged).toHaveBeenCalledWith("The test limiter failed", expect.objectContaining({ message: "store unreachable" }));
  });

  test("passes: false only when the allowance is used up; a fault is logged and passes", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const limiter = new RateLimiterMemory({ points: 1, duration: 10 });
    expect(await passes(limiter, "a", "unused")).toBe(true);
    expect(await passes(limiter, "a", "unused")).toBe(false);
    expect(logged).not.toHaveBeenCalled();
    expect(await passes(new BrokenLimiter({ points: 1, duration: 10 }), "a", "The broken limiter failed")).toBe(true);
    expect(logged).toHaveBeenCalledWith("The broken limiter failed", expect.objectContaining({ message: "store unreachable" }));
  });
});
