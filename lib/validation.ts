import { z } from "zod";
import { ValidationError, type FieldErrors } from "./errors";

/** Parses input at a boundary; a failure becomes a ValidationError naming each field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw toValidationError(result.error);
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

/** What was wrong with some input: each field's messages, and the first of them as the message. */
export type FieldProblem = { message: string; fieldErrors: FieldErrors };

export type ProblemOptions = {
  /** Where the parsed value sits in the whole input: a payload's fields are `payload.<name>`. */
  under?: string;
  /**
   * How a key the schema does not know is reported: on the object that has it with zod's
   * message (the default), as a field of its own ("foo": "Unknown field"), or on the object
   * with a message of the caller's.
   */
  unknownKeys?: "on-parent" | "own-field" | ((keys: string[]) => string);
};

const fieldName = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join(".") : "_");

/** The one reading of a zod error as field errors, for every adapter: actions, the API, the domain's own parsing. */
export function problemOf(error: z.ZodError, opts: ProblemOptions = {}): FieldProblem {
  const { under, unknownKeys = "on-parent" } = opts;
  const fieldErrors = fieldErrorsOf(
    error.issues.flatMap((issue) => {
      const path = under ? [under, ...issue.path] : issue.path;
      if (issue.code !== "unrecognized_keys" || unknownKeys === "on-parent") return [[fieldName(path), issue.message] as const];
      if (unknownKeys === "own-field") return issue.keys.map((k) => [fieldName([...path, k]), "Unknown field"] as const);
      return [[fieldName(path), unknownKeys(issue.keys)] as const];
    }),
  );
  const first = Object.values(fieldErrors)[0];
  return { message: first?.[0] ?? "Invalid input", fieldErrors };
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
