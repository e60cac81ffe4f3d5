import { describe, expect, test } from "vitest";
import { z } from "zod";
import { FieldValidationError, headline, parse, problemOf } from "../../lib/validation";
import { parsePayload } from "../../lib/tasks/issue";
import { PAYLOAD_SCHEMAS } from "../../lib/tasks/schemas";
import { PAYLOAD_FIELDS, TASK_TYPES } from "../../rules/tasks";
import { thrown } from "./helpers";

const schema = z.object({ scheduledAt: z.string({ error: () => "a time" }), nested: z.object({ n: z.number({ error: () => "a number" }) }).strict() }).strict();

describe("problemOf", () => {
  test("messages carry no field name; the fields do", () => {
    const p = problemOf(schema.safeParse({ nested: { n: "x" } }).error!);
    expect(p).toEqual({ message: "a time", fieldErrors: { scheduledAt: ["a time"], "nested.n": ["a number"] } });
  });

  test("unknown keys: fields of their own, marked as the client's names, or in the caller's words on their parent", () => {
    const error = schema.safeParse({ scheduledAt: "t", nested: { n: 1, extra: 1 }, foo: 1 }).error!;
    expect(problemOf(error)).toMatchObject({ fieldErrors: { "nested.extra": ["Unknown field"], foo: ["Unknown field"] }, unknown: ["nested.extra", "foo"] });
    expect(problemOf(error, { unknownKeys: (keys) => `takes no ${keys.join(", ")}`, under: "payload" }).fieldErrors).toEqual({
      "payload.nested": ["takes no extra"],
      payload: ["takes no foo"],
    });
  });

  test("a client's __proto__ key is a field like any other", () => {
    const p = problemOf(schema.safeParse(JSON.parse('{"scheduledAt":"t","nested":{"n":1},"__proto__":1}')).error!);
    expect(Object.hasOwn(p.fieldErrors, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(p.fieldErrors)).toBe(Object.prototype);
  });
});

describe("headline", () => {
  test("names the first field, renamed as the reader knows it, unless the input as a whole is wrong", () => {
    const p = { message: "a time", fieldErrors: { scheduledAt: ["a time"] } };
    expect(headline(p)).toBe("scheduledAt: a time");
    expect(headline(p, (f) => f.toUpperCase())).toBe("SCHEDULEDAT: a time");
    expect(headline({ message: "whole", fieldErrors: { _: ["whole"] } })).toBe("whole");
  });

  test("parse and parsePayload throw the problem as found, with its headline as the message", () => {
    const e = thrown(() => parse(schema, {})) as FieldValidationError;
    expect(e).toBeInstanceOf(FieldValidationError);
    expect(e.problem.message).toBe("a time");
    expect(e.message).toBe("scheduledAt: a time");
    const p = thrown(() => parsePayload("SYNC", { host: "x" })) as FieldValidationError;
    expect(p.problem).toEqual({ message: "SYNC takes no host", fieldErrors: { payload: ["SYNC takes no host"] } });
  });
});

describe("payload fields", () => {
  // The form sends what the descriptors name; the schema must know exactly those keys.
  test.each(TASK_TYPES)("%s: the schema's keys are the descriptors' names", (type) => {
    const shape = (PAYLOAD_SCHEMAS[type] as unknown as z.ZodObject).shape;
    expect(Object.keys(shape)).toEqual(PAYLOAD_FIELDS[type].map((f) => f.name));
  });

  test("required fields are refused when absent, optional ones are not", () => {
    for (const type of TASK_TYPES) {
      const r = PAYLOAD_SCHEMAS[type].safeParse({});
      const missing = r.success ? [] : r.error.issues.map((i) => i.path.join("."));
      expect(missing, type).toEqual(PAYLOAD_FIELDS[type].filter((f) => f.required).map((f) => f.name));
    }
  });
});
