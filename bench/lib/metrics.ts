// Counters read from a node's GET /metrics (Prometheus' text format, lib/server/metrics.ts).

/** The sum of every series of counter `name` in a Prometheus text exposition. */
export function sumSeries(text: string, name: string): number {
  const series = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`);
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = series.exec(line);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/** Counter `name` of one node, now. */
export async function counterOf(url: string, name: string): Promise<number> {
  const res = await fetch(`${url}/metrics`);
  if (!res.ok) throw new Error(`${url}/metrics answered ${res.status}`);
  return sumSeries(await res.text(), name);
}

/** Counter `name` of each node, now, in the nodes' order. */
export function countersOf(urls: string[], name: string): Promise<number[]> {
  return Promise.all(urls.map((u) => counterOf(u, name)));
}
