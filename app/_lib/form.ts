import "server-only";
import type { z } from "zod";
import { isDomainError, ValidationError } from "@/lib/errors";
import { parse } from "@/lib/validation";

// A server action is a public endpoint: anyone can post it any arguments React can encode
// (strings, objects, lists…), whatever its TypeScript signature says. Each action's
// arguments pass through here before anything reads them; a refusal is a ValidationError,
// which runAction answers as { ok: false, code: "invalid" }.

const NOT_A_FORM = "This action takes a form";

/** The fields of a form, parsed with the action's schema; anything but a FormData is refused. */
export function formFields<S extends z.ZodType>(schema: S, formData: unknown): z.output<S> {
  if (!(formData instanceof FormData)) throw new ValidationError(NOT_A_FORM);
  // A Map, not an object: a field named "__proto__" or "toString" is just a field.
  const fields = new Map<string, string>();
  for (const [name, value] of formData) {
    // Every field here is text, given once: a file or a repeated name is not one of our forms.
    if (typeof value !== "string" || fields.has(name)) throw new ValidationError(NOT_A_FORM);
    fields.set(name, value);
  }
  return parse(schema, Object.fromEntries(fields));
}

/** Like formFields, for actions that answer a bad form by doing nothing: null instead of an error. */
export function formFieldsOrNull<S extends z.ZodType>(schema: S, formData: unknown): z.output<S> | null {
  try {
    return formFields(schema, formData);
  } catch (e) {
    if (isDomainError(e)) return null;
    throw e;
  }
}

/**
 * The named text fields of a form as they were typed, for a form to show again beside a
 * refusal (React empties a form once its action ends). Never a password: the caller names
 * which fields.
 */
export function typedBack(formData: unknown, names: readonly string[]): Record<string, string> {
  const kept = new Map<string, string>();
  if (formData instanceof FormData) {
    for (const name of names) {
      const value = formData.get(name);
      if (typeof value === "string") kept.set(name, value.slice(0, 500));
    }
  }
  return Object.fromEntries(kept);
}

/** One argument that is not a form (a task code), parsed with its schema. */
export function argument<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  return parse(schema, value);
}

/** For actions that take nothing: any argument at all is refused. */
export function noArguments(args: readonly unknown[]): void {
  if (args.length > 0) throw new ValidationError("This action takes no arguments");
}
