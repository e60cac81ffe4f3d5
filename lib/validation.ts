import { z } from "zod";
import { ValidationError, type FieldErrors } from "./errors";

/** Parses input at a boundary; a failure becomes a ValidationError naming each field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw toValidationError(result.error);
}

export function toValidationError(error: z.ZodError): ValidationError {
  const fieldErrors: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.length ? issue.path.join(".") : "_";
    (fieldErrors[key] ??= []).push(issue.message);
  }
  const first = error.issues[0];
  const where = first && first.path.length ? `${first.path.join(".")}: ` : "";
  return new ValidationError(`${where}${first?.message ?? "Invalid input"}`, fieldErrors);
}
