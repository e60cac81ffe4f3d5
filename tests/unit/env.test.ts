// The environment as the server reads it (lib/env.ts): each variable parsed once, a bad value
// stopping start-up with its name.
import { describe, expect, test } from "vitest";
import { readEnv as readEnvOf } from "../../lib/env";

const readEnv = (env: Record<string, string>) => readEnvOf(env as NodeJS.ProcessEnv);

const error = (env: Record<string, string>) => {
  try {
    readEnv(env);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("readEnv took it");
};

describe("the server's environment", () => {
  test("numbers: decimal digits within bounds; an empty value is unset and takes the default", () => {
    expect(readEnv({}).PORT).toBe(3000);
    expect(readEnv({ PORT: "" }).PORT).toBe(3000);
    expect(readEnv({ PORT: " 8080 " }).PORT).toBe(8080);
    expect(readEnv({ PORT: "0" }).PORT).toBe(0);
    expect(readEnv({ TASKWIRE_RETENTION_MAX_DAYS: "" }).TASKWIRE_RETENTION_MAX_DAYS).toBeUndefined();
    expect(readEnv({ TASKWIRE_RETENTION_MAX_DAYS: "30" }).TASKWIRE_RETENTION_MAX_DAYS).toBe(30);
    expect(readEnv({ TASKWIRE_PG_POOL: "" }).TASKWIRE_PG_POOL).toBe(10);
  });

  test("a number written otherwise, or out of its bounds, stops start-up naming the variable", () => {
    expect(error({ PORT: "0x10" })).toMatch(/PORT: Write a whole number in decimal digits/);
    expect(error({ PORT: "1e3" })).toMatch(/PORT: Write a whole number/);
    expect(error({ PORT: "-1" })).toMatch(/PORT: Write a whole number/);
    expect(error({ PORT: "3000.5" })).toMatch(/PORT: Write a whole number/);
    expect(error({ PORT: "65536" })).toMatch(/PORT: At most 65535/);
    expect(error({ TASKWIRE_RETENTION_MAX_DAYS: "0x10" })).toMatch(/TASKWIRE_RETENTION_MAX_DAYS: Write a whole number/);
    expect(error({ TASKWIRE_RETENTION_MAX_DAYS: "0" })).toMatch(/TASKWIRE_RETENTION_MAX_DAYS: At least 1/);
    expect(error({ TASKWIRE_RETENTION_MAX_DAYS: "36501" })).toMatch(/TASKWIRE_RETENTION_MAX_DAYS: At most 36500/);
    expect(error({ TASKWIRE_PG_POOL: "1" })).toMatch(/TASKWIRE_PG_POOL: At least 2/);
  });
});
