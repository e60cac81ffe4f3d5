import { z } from "zod";
import { ROW_ID_MAX } from "../rules/codes";
import { ValidationError, type FieldErrors } from "./errors";

/** Parses input at a boundary; a failure becomes a ValidationError naming each field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  refuseUnstorable(input);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw toValidationError(result.error);
}

/** Parses one field of an input that arrives apart from the rest (a role beside a member's id): its errors name the field. */
export function parseField<S extends z.ZodType>(field: string, schema: S, input: unknown): z.output<S> {
  return (parse(z.object({ [field]: schema }), { [field]: input }) as Record<string, z.output<S>>)[field];
}

/** parse's answer without throwing: the value, or the ValidationError parse would throw (a page shows it beside its form). */
export function tryParse<S extends z.ZodType>(schema: S, input: unknown): { success: true; data: z.output<S> } | { success: false; error: FieldValidationError } {
  try {
    return { success: true, data: parse(schema, input) };
  } catch (e) {
    if (e instanceof FieldValidationError) return { success: false, error: e };
    throw e;
  }
}

/**
 * A row's id: a number (from code), or its decimal digits (from a path or a query string), at
 * least `min`. Not z.coerce, which would read `true`, `[1]`, "0x1", "1e0" or " 1" as the same
 * row as "1".
 */
export function rowIdSchema(message: string, min = 1) {
  return z.preprocess(
    (v) => (typeof v === "string" && /^\d{1,16}$/.test(v) ? Number(v) : v),
    z.number({ error: () => message }).int(message).min(min, message).max(ROW_ID_MAX, message),
  );
}

export const UNSTORABLE_MESSAGE = "Contains a character that cannot be stored (U+0000, or half of a surrogate pair)";

/**
 * Whether text can be stored as it is. PostgreSQL refuses U+0000 in text and in JSON, and half
 * of a surrogate pair in JSON; SQLite keeps both. Neither gets past a boundary, so that the same
 * input gets the same answer on both, and never the database's error.
 */
export const isStorable = (s: string): boolean => !s.includes("\u0000") && s.isWellFormed();

/** Text as it can be stored, for what is kept rather than refused (an agent's output): U+0000 and half pairs become U+FFFD. */
export const storableText = (s: string): string => (isStorable(s) ? s : s.replaceAll("\u0000", "\uFFFD").toWellFormed());

/** The path of the first string in `input` (parsed JSON, a form, a query), a key or a value, that cannot be stored; null if none. */
export function unstorableAt(input: unknown): PropertyKey[] | null {
  if (typeof input === "string") return isStorable(input) ? null : [];
  // A stack, not recursion, and each level linked to the one above rather than given a copy of
  // its path: JSON nested a hundred thousand deep is valid input. Strings are checked where
  // they stand, so that a list of 100,000 names costs no allocation.
  type Level = { value: object; key: PropertyKey; up: Level | null };
  const pathTo = (level: Level | null, key: PropertyKey) => {
    const path = [key];
    for (let l = level; l?.up; l = l.up) path.push(l.key);
    return path.reverse();
  };
  // Input is JSON, a form or a query: lists and plain objects are walked, nothing else (a
  // Date, a byte array a socket may carry, whose every byte would be a key), each once.
  const isWalked = (v: unknown): v is object => {
    if (v === null || typeof v !== "object") return false;
    const proto = Object.getPrototypeOf(v);
    return Array.isArray(v) || proto === Object.prototype || proto === null;
  };
  if (!isWalked(input)) return null;
  const seen = new WeakSet<object>();
  const stack: Level[] = [{ value: input, key: "", up: null }];
  while (stack.length) {
    const level = stack.pop()!;
    if (seen.has(level.value)) continue;
    seen.add(level.value);
    const { value } = level;
    const keys: PropertyKey[] = Array.isArray(value) ? [] : Object.keys(value);
    const count = Array.isArray(value) ? value.length : keys.length;
    for (let i = 0; i < count; i++) {
      const k = Array.isArray(value) ? i : keys[i];
      const v: unknown = (value as Record<PropertyKey, unknown>)[k];
      if ((typeof k === "string" && !isStorable(k)) || (typeof v === "string" && !isStorable(v))) return pathTo(level, k);
      if (isWalked(v)) stack.push({ value: v, key: k, up: level });
    }
  }
  return null;
}

const PATH_SHOWN = 20;

/** Throws the ValidationError naming where `input` holds text that cannot be stored. */
export function refuseUnstorable(input: unknown, clientNames = false): void {
  const at = unstorableAt(input);
  if (!at) return;
  // Deep input is named by where it starts: the path of JSON nested a million deep is no name.
  const field = fieldName(at.length > PATH_SHOWN ? [...at.slice(0, PATH_SHOWN), "…"] : at);
  throw new FieldValidationError({ message: UNSTORABLE_MESSAGE, fieldErrors: { [field]: [UNSTORABLE_MESSAGE] } }, clientNames);
}

/**
 * Groups messages by field. Field names come from the client (an unknown key is reported
 * under its own name), so they are gathered in a Map: `fields["__proto__"] ??= []` on a
 * plain object would reach Object.prototype instead of making a field.
 */
export function fieldErrorsOf(entries: Iterable<readonly [string, string]>): FieldErrors {
  const byField = new Map<string, string[]>();
  for (const [field, message] of entries) {
    const list = byField.get(field);
    if (list) list.push(message);
    else byField.set(field, [message]);
  }
  // Object.fromEntries defines own properties, so "__proto__" stays an ordinary key.
  return Object.fromEntries(byField);
}

/**
 * What was wrong with some input: each field's messages, and the first of them as the message.
 * `unknown`: the fields that are keys the schema does not know, named as the client sent them
 * (an adapter that renames fields leaves these as they are).
 */
export type FieldProblem = { message: string; fieldErrors: FieldErrors; unknown?: string[] };

export type ProblemOptions = {
  /** Where the parsed value sits in the whole input: a payload's fields are `payload.<name>`. */
  under?: string;
  /**
   * How a key the schema does not know is reported: as a field of its own ("foo": "Unknown
   * field", the default), or on the object that has it, with a message of the caller's.
   */
  unknownKeys?: "own-field" | ((keys: string[]) => string);
};

const fieldName = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join(".") : "_");

/** The one reading of a zod error as field errors, for every adapter: actions, the API, the domain's own parsing. */
export function problemOf(error: z.ZodError, opts: ProblemOptions = {}): FieldProblem {
  const { under, unknownKeys = "own-field" } = opts;
  const unknown: string[] = [];
  const fieldErrors = fieldErrorsOf(
    error.issues.flatMap((issue) => {
      const path = under ? [under, ...issue.path] : issue.path;
      if (issue.code !== "unrecognized_keys") return [[fieldName(path), issue.message] as const];
      if (unknownKeys !== "own-field") return [[fieldName(path), unknownKeys(issue.keys)] as const];
      return issue.keys.map((k) => {
        const field = fieldName([...path, k]);
        unknown.push(field);
        return [field, "Unknown field"] as const;
      });
    }),
  );
  const first = Object.values(fieldErrors)[0];
  return { message: first?.[0] ?? "Invalid input", fieldErrors, ...(unknown.length ? { unknown } : {}) };
}

/**
 * A problem's one-line summary, naming its first field ("scheduledAt: …") unless it is about
 * the input as a whole; `rename` gives the field the name the reader knows it by.
 */
export function headline(problem: FieldProblem, rename: (field: string) => string = (f) => f): string {
  const field = Object.keys(problem.fieldErrors)[0];
  return field && field !== "_" ? `${rename(field)}: ${problem.message}` : problem.message;
}

/**
 * Bad input read field by field. The problem is kept as it was found, so that an adapter
 * speaking other field names (the API's snake_case) composes its own summary from it
 * rather than rewriting this one's text.
 */
export class FieldValidationError extends ValidationError {
  constructor(
    readonly problem: FieldProblem,
    /** The fields already bear the names the client sent (the API's own parsing). */
    readonly clientNames = false,
  ) {
    super(headline(problem), problem.fieldErrors);
  }
}

export function toValidationError(error: z.ZodError, opts?: ProblemOptions): FieldValidationError {
  return new FieldValidationError(problemOf(error, opts));
}
