// npm run bench [-- --runs 3] [any option of bench/run.ts]
//
// Runs the whole benchmark (bench/run.ts) several times, each on databases and servers of its
// own, one after the other, and prints one table of the medians with the spread (lowest and
// highest) of every figure: one figure that holds on a good run and misses on another shows
// as such. Waits, before each run, for the load average to fall to 1; warns when the machine was
// busy (load average above 1) at the start or end of a run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { fmt, writeJson, type Row } from "./lib/report";
import { median, round, sleep } from "./lib/stats";

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

// bench/run.ts's options are declared here too (strict parsing knows no others), and checked
// there: each run is handed them as given.
function parseFlags() {
  try {
    return parseArgs({
      options: {
        runs: { type: "string", default: "3" },
        out: { type: "string" },
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        keep: { type: "boolean", default: false },
        profile: { type: "string" },
        pg: { type: "boolean", default: false },
        nodes: { type: "string" },
      },
      strict: true,
      tokens: true,
    });
  } catch (e) {
    fail((e as Error).message);
  }
}

const { values: args, tokens } = parseFlags();
const runs = z.coerce.number().int().min(1).max(20).safeParse(args.runs);
if (!runs.success) fail("--runs takes a whole number from 1 to 20");
/** Every option but ours, handed to each run as given. */
const passed = tokens.flatMap((t) => (t.kind !== "option" || t.name === "runs" || t.name === "out" ? [] : t.value === undefined ? [t.rawName] : [t.rawName, t.value]));

type RunReport = {
  startedAt: string;
  durationS: number;
  machine: { loadavg: number[]; loadavgAtStart: number[]; cores: number; cpu?: string; memoryGB: number; node: string };
  sizes: { name: string };
  /** Absent from reports written before PostgreSQL was benchmarked: those ran on SQLite, one node. */
  dialect?: "sqlite" | "pg";
  nodes?: number;
  rows: Row[];
};

/**
 * The load average is a minute's decaying mean: right after a run it still counts that run
 * (the bench fills both cores), and the next would start "busy" on an idle machine. Before
 * each run, wait for it to fall to 1 again, SETTLE_MAX_S at most; a machine still busy then
 * is busy with other work, and the run's warning says so.
 */
const SETTLE_MAX_S = 180;
async function settle(): Promise<void> {
  const start = Date.now();
  const waited = () => Math.round((Date.now() - start) / 1000);
  if (loadavg()[0] <= 1) return;
  console.log(`waiting for the load average to fall to 1 (now ${loadavg()[0].toFixed(2)}), ${SETTLE_MAX_S} s at most`);
  while (loadavg()[0] > 1 && waited() < SETTLE_MAX_S) await sleep(5_000);
  console.log(loadavg()[0] <= 1 ? `settled after ${waited()} s` : `still ${loadavg()[0].toFixed(2)} after ${waited()} s: other work shares the machine`);
}

const dir = mkdtempSync(join(tmpdir(), "taskwire-bench-runs-"));
const reports: RunReport[] = [];
try {
  for (let i = 1; i <= runs.data; i++) {
    console.log(`\n=== run ${i} of ${runs.data} ===`);
    await settle();
    const out = join(dir, `run-${i}.json`);
    const res = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", ...passed, "--out", out], { stdio: "inherit" });
    if (res.status !== 0) {
      console.error(`run ${i} failed (exit ${res.status ?? res.signal})`);
      // A flag the run refused (exit 2) is the command's fault, not the run's.
      process.exit(res.status === 2 ? 2 : 1);
    }
    reports.push(JSON.parse(readFileSync(out, "utf8")) as RunReport);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (runs.data === 1) process.exit(0);

// Figures in the order of the first run; a figure missing from a run is summarised over the
// others. A figure's name may carry what one run saw (a memory row's growth, "+97 MB" or
// "-19 MB", and its heap, "heap 58 MB used"): that part is left out of the name the runs share.
const nameOf = (figure: string) => figure.replace(/ \((?:[+-]?\d+ MB|heap \d+ MB used)(?:; heap \d+ MB used)?\)$/, "");
const figures = [...new Set(reports.flatMap((r) => r.rows.map((row) => nameOf(row.figure))))];
const combined = figures.map((figure) => {
  const rows = reports.flatMap((r) => r.rows.filter((row) => nameOf(row.figure) === figure));
  // A figure a setup does not measure has no value (NaN, written as null): it prints as —.
  const values = rows.map((r) => r.value ?? NaN);
  const mid = median(values);
  // The run whose value is the median speaks for the goal.
  const middle = rows.find((r) => r.value === mid) ?? rows[0];
  const baselines = rows.flatMap((r) => (r.baseline === undefined ? [] : [r.baseline]));
  const ratios = rows.flatMap((r) => (r.ratio === undefined ? [] : [r.ratio]));
  const metRuns = rows.filter((r) => r.met === true).length;
  return {
    figure,
    unit: middle.unit,
    median: mid,
    min: Math.min(...values),
    max: Math.max(...values),
    runs: values,
    baseline: baselines.length ? median(baselines) : undefined,
    baselineOf: middle.baselineOf,
    ratio: ratios.length ? median(ratios) : undefined,
    goal: middle.goal,
    met: middle.met,
    metRuns,
    of: rows.length,
  };
});

const head = ["figure", "median", "spread", "baseline (median)", "ratio", "goal", "met?"];
const body = combined.map((c) => [
  c.figure,
  fmt(c.median, c.unit),
  c.of > 1 ? `${fmt(c.min, c.unit)} – ${fmt(c.max, c.unit)}` : "—",
  c.baseline === undefined ? "—" : `${fmt(c.baseline, c.unit)}${c.baselineOf ? ` (${c.baselineOf})` : ""}`,
  c.ratio === undefined ? "—" : `${round(c.ratio, 2)}×`,
  c.goal ?? "—",
  c.met === null ? "" : `${c.met ? "yes" : "NO"} (${c.metRuns}/${c.of})`,
]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;

const m = reports[reports.length - 1].machine;
const first = reports[0];
const nodes = first.nodes ?? 1;
/** What the title adds to "full" or "quick": nothing on SQLite. */
const variant = first.dialect === "pg" ? `, PostgreSQL${nodes > 1 ? `, ${nodes} nodes` : ""}` : "";
console.log(`\nTaskwire benchmark (${first.sizes.name}${variant}), ${reports.length} runs — ${first.startedAt}, ${reports.reduce((s, r) => s + r.durationS, 0)} s in all`);
console.log(`machine: ${m.cores} cores (${m.cpu}), ${m.memoryGB} GB, Node ${m.node}`);
for (const [i, r] of reports.entries()) console.log(`run ${i + 1}: load average ${r.machine.loadavgAtStart[0]} at start, ${r.machine.loadavg[0]} at end`);
const busy = reports.flatMap((r, i) => [r.machine.loadavgAtStart[0], r.machine.loadavg[0]].filter((l) => l > 1).map((l) => `${l} (run ${i + 1})`));
if (busy.length) console.log(`WARNING: the machine was busy — load average above 1: ${busy.join(", ")}. Other work shares these cores; the figures may be slower than the code.`);
console.log("");
console.log([line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n"));
const setup = first.dialect === "pg" ? `-pg${nodes > 1 ? `-${nodes}nodes` : ""}` : "";
const out = args.out ?? join("bench", "results", `${first.startedAt.replace(/[:.]/g, "-")}-${first.sizes.name}${setup}-x${reports.length}.json`);
writeJson(out, { command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`, runs: reports.length, dialect: first.dialect ?? "sqlite", nodes, figures: combined, reports });
console.log(`\nJSON: ${out}`);
