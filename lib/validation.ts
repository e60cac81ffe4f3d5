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

export function toValidationError(error: z.ZodError): ValidationError {
  const fieldErrors = fieldErrorsOf(error.issues.map((issue) => [issue.path.length ? issue.path.join(".") : "_", issue.message] as const));
  const first = error.issues[0];
  const where = first && first.path.length ? `${first.path.join(".")}: ` : "";
  return new ValidationError(`${where}${first?.message ?? "Invalid input"}`, fieldErrors);
}
