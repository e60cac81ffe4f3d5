// The server's compiled module (scripts/build-server.ts): one file of the project's own
// modules, packages left as imports, replaced only when its text changes.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { bundle } from "../../scripts/build-server";

const dir = mkdtempSync(join(tmpdir(), "taskwire-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bundle", () => {
  const entry = join(dir, "entry.ts");
  const out = join(dir, "out", "entry.mjs");
  const run = () => spawnSync(process.execPath, [out], { encoding: "utf8" });

  test("compiles an entry and its own modules into one module that plain node runs; packages stay imports", () => {
    writeFileSync(join(dir, "greeting.ts"), `export const greet = (name: string): string => \`hello \${name}\`;\n`);
    writeFileSync(entry, `import { z } from "zod";\nimport { greet } from "./greeting";\nconsole.log(greet(z.string().parse("fleet")));\n`);
    bundle(entry, out);
    const text = readFileSync(out, "utf8");
    expect(text).toContain("hello");
    expect(text).toMatch(/from "zod"/);
    expect(readdirSync(join(dir, "out"))).toEqual(["entry.mjs"]);
    // Run from the project, where node_modules is: the package is resolved there.
    mkdirSync(join(process.cwd(), "dist"), { recursive: true });
    const copy = join(process.cwd(), "dist", `bundle-test-${process.pid}.mjs`);
    writeFileSync(copy, text);
    try {
      const res = spawnSync(process.execPath, [copy], { encoding: "utf8" });
      expect(res.stderr).toBe("");
      expect(res.stdout).toBe("hello fleet\n");
    } finally {
      rmSync(copy, { force: true });
    }
  });

  test("leaves the file alone when the code did not change, and replaces it when it did", () => {
    writeFileSync(entry, `import { greet } from "./greeting";\nconsole.log(greet("one"));\n`);
    bundle(entry, out);
    expect(run().stdout).toBe("hello one\n");
    const old = Math.floor(Date.now() / 1000) - 60; // whole seconds: every file system keeps them
    utimesSync(out, old, old);
    bundle(entry, out);
    expect(Math.round(statSync(out).mtimeMs)).toBe(old * 1000);
    writeFileSync(entry, `import { greet } from "./greeting";\nconsole.log(greet("two"));\n`);
    bundle(entry, out);
    expect(statSync(out).mtimeMs).toBeGreaterThan(old * 1000);
    expect(run().stdout).toBe("hello two\n");
    expect(readdirSync(join(dir, "out"))).toEqual(["entry.mjs"]);
  });

  test("a compile error throws and leaves the last good file in place", () => {
    writeFileSync(entry, `import { greet } from "./greeting";\nconsole.log(greet("three";\n`);
    expect(() => bundle(entry, out)).toThrow();
    expect(run().stdout).toBe("hello two\n");
  });
});
