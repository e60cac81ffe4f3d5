import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

// The layers import downwards only: rules/ (the task, device and role rules and the SQL
// generated from them) is a leaf that db/, lib/ and app/ — and the browser bundle — all
// import; db/ is the database layer under the domain; lib/ knows nothing of routes and pages.
// Folder cycles inside lib/ and dynamic imports are checked by tests/unit/layering.test.ts.
const importing = (folders) => [
  { regex: `^@/(${folders.join("|")})(/|$)`, message: "Import downwards only (see docs/architecture.md)." },
  { regex: `^(\\.\\./)+(${folders.join("|")})(/|$)`, message: "Import downwards only (see docs/architecture.md)." },
];

const config = [
  ...nextVitals,
  ...nextTs,
  { ignores: [".next/**", ".next-*/**", "dist/**", "db/migrations/**", "next-env.d.ts", "test-results/**", "playwright-report/**", "tests/.artifacts/**"] },
  { files: ["rules/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: importing(["lib", "db", "app"]) }] } },
  { files: ["db/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: importing(["lib", "app"]) }] } },
  { files: ["lib/**/*.ts", "lib/**/*.tsx"], rules: { "no-restricted-imports": ["error", { patterns: importing(["app"]) }] } },
];

export default config;
