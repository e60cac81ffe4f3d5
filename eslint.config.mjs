import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

const config = [
  ...nextVitals,
  ...nextTs,
  { ignores: [".next/**", ".next-*/**", "dist/**", "db/migrations/**", "next-env.d.ts", "test-results/**", "playwright-report/**", "tests/.artifacts/**"] },
];

export default config;
