// One row per figure: its value, the floor it is compared with, the ratio, the goal and
// whether it is met — printed as a table and written as JSON.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { round } from "./stats";

export type Unit = "ms" | "µs" | "/s" | "MB" | "×" | "msg/s" | "";

export type Row = {
  figure: string;
  value: number;
  unit: Unit;
  /** The floor measured beside it (same unit), when there is one. */
  baseline?: number;
  /** What the baseline is, e.g. "raw INSERT". */
  baselineOf?: string;
  /** value ÷ baseline. */
  ratio?: number;
  goal?: string;
  /** null: printed for information, no goal. */
  met: boolean | null;
  detail?: Record<string, unknown>;
};

export const fmt = (n: number | undefined, unit: Unit) => {
  if (n === undefined || Number.isNaN(n)) return "—";
  if (unit === "/s" || unit === "msg/s") return `${Math.round(n).toLocaleString("en-US")} ${unit}`;
  if (unit === "MB") return `${Math.round(n)} MB`;
  if (unit === "×") return `${round(n, 2)}×`;
  if (unit === "ms" || unit === "µs") return `${n >= 100 ? Math.round(n) : round(n, 1)} ${unit}`;
  return String(round(n, 2));
};

export function row(r: Omit<Row, "ratio"> & { ratio?: number }): Row {
  const ratio = r.ratio ?? (r.baseline !== undefined && r.baseline > 0 ? r.value / r.baseline : undefined);
  return { ...r, ratio };
}

export function table(rows: Row[]): string {
  const head = ["figure", "value", "baseline", "ratio", "goal", "met?"];
  const body = rows.map((r) => [
    r.figure,
    fmt(r.value, r.unit),
    r.baseline === undefined ? "—" : `${fmt(r.baseline, r.unit)}${r.baselineOf ? ` (${r.baselineOf})` : ""}`,
    r.ratio === undefined ? "—" : `${round(r.ratio, 2)}×`,
    r.goal ?? "—",
    r.met === null ? "" : r.met ? "yes" : "NO",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

export function writeJson(file: string, data: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}
