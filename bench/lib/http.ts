// HTTP load through autocannon: every response's latency is kept (autocannon's own summary
// has no p95), and any answer other than the expected status fails the figure.
import autocannon from "autocannon";

export type HttpSamples = { latencies: number[]; statuses: Record<string, number>; errors: number; bytes: number };

/**
 * `amount` requests one after the other on one keep-alive connection (the latency a user
 * sees, not a saturation test), after `warmup` requests that are not counted.
 */
export async function sequential(url: string, opts: { headers?: Record<string, string>; amount: number; warmup?: number; expect?: number }): Promise<HttpSamples> {
  const run = async (amount: number): Promise<HttpSamples> => {
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let bytes = 0;
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      // sampleInt: autocannon notices it is done at its next sample, by default a second later.
      const instance = autocannon({ url, connections: 1, pipelining: 1, amount, headers: opts.headers, timeout: 30, sampleInt: 25 }, (err, res) => (err ? reject(err) : resolve(res)));
      instance.on("response", (_client, status, resBytes, ms) => {
        latencies.push(ms);
        statuses[status] = (statuses[status] ?? 0) + 1;
        bytes += resBytes;
      });
    });
    return { latencies, statuses, errors: result.errors + result.timeouts, bytes };
  };
  if (opts.warmup) await run(opts.warmup);
  const samples = await run(opts.amount);
  const expected = String(opts.expect ?? 200);
  const other = Object.entries(samples.statuses).filter(([s]) => s !== expected);
  if (other.length || samples.errors) throw new Error(`${url}: expected ${opts.amount} × ${expected}, got ${JSON.stringify(samples.statuses)} and ${samples.errors} errors`);
  return samples;
}

/** Signs in through better-auth's endpoint; returns the session cookie header. */
export async function signIn(url: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email, password }),
  });
  if (!res.ok) throw new Error(`sign-in of ${email} failed: ${res.status} ${await res.text()}`);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}
