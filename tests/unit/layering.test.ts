// The layers import downwards only (docs/architecture.md): rules/ is a leaf that db/, lib/,
// app/ and the browser bundle all import; db/ stands under the domain; lib/ never reaches into
// app/; and no two folders of lib/ need each other. eslint refuses the first three for static
// imports (eslint.config.mjs); this reads dynamic imports too, and finds the folder cycles
// eslint cannot express.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SPECIFIER = /\bfrom\s*["']([^"']+)["']|\bimport\s*\(?\s*["']([^"']+)["']/g;

type Import = { file: string; spec: string; target: string | null };

/** The source files under a folder, as repository paths; migrations are generated SQL. */
function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })
    .filter((f) => /\.tsx?$/.test(f) && !f.startsWith("migrations"))
    .map((f) => join(folder, f));
}

/** Every import of a file; `target` is the repository path it names, or null for a package. */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(SPECIFIER)].map((m) => {
    const spec = m[1] ?? m[2];
    const target = spec.startsWith("@/") ? spec.slice(2) : spec.startsWith(".") ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : null;
    return { file, spec, target };
  });
}

const within = (target: string | null, folder: string) => target !== null && (target === folder || target.startsWith(`${folder}/`));
const shown = (i: Import) => `${i.file} imports ${i.spec}`;

/** A folder of lib/ is one unit (lib/agents/sim belongs to lib/agents); a file directly in lib/ is its own. */
function unitOf(path: string): string {
  const parts = path.replace(/\.tsx?$/, "").split("/");
  return parts.length > 2 ? `lib/${parts[1]}` : parts.join("/");
}

/** The strongly connected groups of more than one unit, each with the imports that tie it. */
function cycles(edges: Map<string, Map<string, string[]>>): string[] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      group.push(w);
    } while (w !== v);
    if (group.length < 2) return;
    const ties = group.flatMap((a) => group.flatMap((b) => (edges.get(a)?.get(b) ?? []).map((f) => `${f} → ${b}`)));
    out.push(`${group.sort().join(" ⇄ ")}: ${ties.join(", ")}`);
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe("layering", () => {
  test("the reader sees the imports it checks", () => {
    const targets = importsOf("lib/tasks/issue.ts").map((i) => i.target);
    expect(targets).toEqual(expect.arrayContaining(["db/client", "rules/tasks", "lib/actor", "lib/tasks/targets"]));
  });

  test("rules/ imports nothing but itself: every layer and the browser load it without pulling anything along", () => {
    const wrong = sources("rules").flatMap(importsOf).filter((i) => !within(i.target, "rules"));
    expect(wrong.map(shown)).toEqual([]);
  });

  test("db/ imports nothing from lib/ or app/", () => {
    const wrong = sources("db").flatMap(importsOf).filter((i) => within(i.target, "lib") || within(i.target, "app"));
    expect(wrong.map(shown)).toEqual([]);
  });

  test("lib/ imports nothing from app/ or api/", () => {
    const wrong = sources("lib").flatMap(importsOf).filter((i) => within(i.target, "app") || within(i.target, "api"));
    expect(wrong.map(shown)).toEqual([]);
  });

  test("the pages and the JSON API stand side by side on lib/: neither imports the other", () => {
    const wrong = [...sources("app").flatMap(importsOf).filter((i) => within(i.target, "api")), ...sources("api").flatMap(importsOf).filter((i) => within(i.target, "app"))];
    expect(wrong.map(shown)).toEqual([]);
  });

  test("no two folders of lib/ import each other, directly or around a loop", () => {
    const edges = new Map<string, Map<string, string[]>>();
    for (const file of sources("lib")) {
      const from = unitOf(file);
      for (const i of importsOf(file)) {
        if (!within(i.target, "lib")) continue;
        const to = unitOf(i.target!);
        if (to === from) continue;
        const byTarget = edges.get(from) ?? edges.set(from, new Map()).get(from)!;
        byTarget.set(to, [...(byTarget.get(to) ?? []), file]);
      }
    }
    expect(edges.size).toBeGreaterThan(5);
    expect(cycles(edges)).toEqual([]);
  });
});
