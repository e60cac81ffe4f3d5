import { exportFanout, type ExportRow } from "@/lib/tasks/fanout-export";
import { apiRoute } from "./http";
import { fanoutCodeParam } from "./schemas";
import { iso } from "./serialize";

// A fan-out's tasks as a download: CSV or JSON, written as a stream, a window of rows per
// pull, so 100,000 rows take no more memory than one window and never hold the loop long.

export const EXPORT_COLUMNS = ["code", "device", "ous", "status", "started_at", "finished_at", "duration_ms", "message"] as const;


/** A row as the export's JSON writes it, and its CSV before quoting. */
export function exportRecord(r: ExportRow) {
  return {
    code: r.code,
    device: r.device,
    ous: r.ous,
    status: r.status,
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    duration_ms: r.durationMs,
    message: r.message,
  };
}

// Made once: a regular expression literal in a function is a new object at every call, and
// an export of 100,000 rows calls csvField 800,000 times.
const FORMULA = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",;\r\n]/;
const QUOTE = /"/g;

/**
 * One CSV field (RFC 4180): quoted when it holds a quote, a comma or a line break. A text
 * that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage
 * return) is written with a leading apostrophe, as OWASP advises against CSV injection: a
 * device's agent writes the messages. A field holding a semicolon is quoted too: spreadsheets
 * set to a semicolon separator would otherwise split it and run what follows.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return "";
  let s = String(value);
  if (typeof value === "string" && FORMULA.test(s)) s = `'${s}`;
  return NEEDS_QUOTES.test(s) ? `"${s.replace(QUOTE, '""')}"` : s;
}

function csvLine(r: ExportRow): string {
  const rec = exportRecord(r);
  return EXPORT_COLUMNS.map((c) => csvField(c === "ous" ? rec.ous.join(";") : rec[c])).join(",");
}

/** A download whose body is written from `pages` as they come: CSV, or one JSON array. */
export function exportResponse(pages: () => AsyncGenerator<ExportRow[]>, opts: { format: "csv" | "json"; filename: string }): Response {
  const csv = opts.format === "csv";
  return streamedDownload(pages, {
    head: csv ? `${EXPORT_COLUMNS.join(",")}\r\n` : "[",
    body: (rows, first) => (csv ? `${rows.map(csvLine).join("\r\n")}\r\n` : `${first ? "" : ","}${rows.map((r) => JSON.stringify(exportRecord(r))).join(",")}`),
    tail: csv ? "" : "]\n",
    contentType: csv ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
    filename: opts.filename,
  });
}

/**
 * A download written a window of rows per pull: its head, each window as `body` writes it,
 * its tail. The status goes with the first pieces (api/router.ts reads two before answering):
 * a failure there is answered 500, one after cuts the download short.
 */
export function streamedDownload<T>(
  pages: () => AsyncGenerator<T[]>,
  opts: { head: string; body: (rows: T[], first: boolean) => string; tail: string; contentType: string; filename: string },
): Response {
  const encoder = new TextEncoder();
  const source = pages();
  let started = false;
  let first = true;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!started) {
          started = true;
          if (opts.head) {
            controller.enqueue(encoder.encode(opts.head));
            return;
          }
        }
        const next = await source.next();
        if (next.done) {
          if (opts.tail) controller.enqueue(encoder.encode(opts.tail));
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(opts.body(next.value, first)));
        first = false;
      } catch (e) {
        // Past the first pieces the status is sent: a failure can only cut the download
        // short, which the client sees as an incomplete body (no closing bracket, a truncated
        // transfer).
        console.error(`Export ${opts.filename} failed`, e);
        controller.error(new Error("The export failed"));
      }
    },
    async cancel() {
      await source.return(undefined);
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { "content-type": opts.contentType, "content-disposition": `attachment; filename="${opts.filename}"`, "cache-control": "no-store" },
  });
}

/** GET /api/v1/fanouts/{code}/tasks.{csv,json}: the fan-out is found (or 404) before the first byte. */
export function exportRoute(format: "csv" | "json") {
  return apiRoute<{ code: string }>(async ({ db, actor, params }) => {
    const { fanout, pages } = await exportFanout({ db, actor }, fanoutCodeParam(params.code));
    return exportResponse(pages, { format, filename: `fanout-${fanout.code}.${format}` });
  });
}
