import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

// The layers import downwards only: rules/ (the task, device and role rules and the SQL
// generated from them) is a leaf that db/, lib/ and app/ — and the browser bundle — all
// import; db/ is the database layer under the domain; lib/ knows nothing of routes and pages;
// app/ (the pages) and api/ (the JSON API) stand side by side on lib/.
// Folder cycles inside lib/ and dynamic imports are checked by tests/unit/layering.test.ts.
const importing = (folders) => [
  { regex: `^@/(${folders.join("|")})(/|$)`, message: "Import downwards only (see docs/architecture.md)." },
  { regex: `^(\\.\\./)+(${folders.join("|")})(/|$)`, message: "Import downwards only (see docs/architecture.md)." },
];

// Conditions on the columns partial indexes are built on come from lib/tasks/terms.ts, with
// their values written into the statement: a bound value makes SQLite prepare the statement
// again at every run.
const PARTIAL_INDEX_COLUMNS = {
  selector:
    "CallExpression[callee.name=/^(eq|ne|gt|gte|lt|lte|inArray|notInArray)$/][arguments.0.type='MemberExpression'][arguments.0.object.name=/^(tasks|fanouts)$/][arguments.0.property.name=/^(status|openTasks)$/]",
  message: "Compare a task's status or a fan-out's open tasks through lib/tasks/terms.ts (statusIs, fanoutIsOpen).",
};
const PARTIAL_INDEX_COLUMNS_IN_SQL = {
  selector: "TaggedTemplateExpression[tag.name='sql'] MemberExpression[object.name='tasks'][property.name='status']",
  message: "Compare a task's status through lib/tasks/terms.ts (statusIs).",
};

const config = [
  ...nextVitals,
  ...nextTs,
  { ignores: [".next/**", ".next-*/**", "dist/**", "db/migrations/**", "next-env.d.ts", "test-results/**", "playwright-report/**", "tests/.artifacts/**"] },
  { files: ["rules/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: importing(["lib", "db", "app", "api"]) }] } },
  { files: ["db/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: importing(["lib", "app", "api"]) }] } },
  { files: ["lib/**/*.ts", "lib/**/*.tsx"], rules: { "no-restricted-imports": ["error", { patterns: importing(["app", "api"]) }] } },
  { files: ["app/**/*.ts", "app/**/*.tsx"], rules: { "no-restricted-imports": ["error", { patterns: importing(["api"]) }] } },
  { files: ["api/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: importing(["app"]) }] } },
  {
    files: ["lib/**/*.ts", "lib/**/*.tsx", "app/**/*.ts", "app/**/*.tsx", "api/**/*.ts", "db/**/*.ts"],
    ignores: ["lib/tasks/terms.ts"],
    rules: { "no-restricted-syntax": ["error", PARTIAL_INDEX_COLUMNS, PARTIAL_INDEX_COLUMNS_IN_SQL] },
  },
];

export default config;
