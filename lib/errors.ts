// Domain errors carry a code and a human message, never a transport status. Each adapter
// (server actions, the JSON API, socket acknowledgements) maps them in one place.

export type FieldErrors = Record<string, string[]>;

export type ErrorCode = "invalid" | "unauthorized" | "forbidden" | "not_found" | "conflict" | "unprocessable" | "too_large" | "unavailable" | "rate_limited";

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fieldErrors?: FieldErrors,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, fieldErrors?: FieldErrors) {
    super("invalid", message, fieldErrors);
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super("not_found", `${what} was not found`);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = "Your role does not allow this") {
    super("forbidden", message);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string) {
    super("conflict", message);
  }
}

/** A request body past what the server reads: refused before it is parsed. */
export class TooLargeError extends DomainError {
  constructor(message: string) {
    super("too_large", message);
  }
}

export class UnprocessableError extends DomainError {
  constructor(message: string, fieldErrors?: FieldErrors, details?: Record<string, unknown>) {
    super("unprocessable", message, fieldErrors, details);
  }
}

/**
 * The database could not take a write just now (another writer holds it, or it cannot be
 * reached): nothing changed, and the same request may simply be sent again.
 */
export class UnavailableError extends DomainError {
  constructor(message: string = UNAVAILABLE_MESSAGES.busy) {
    super("unavailable", message);
  }
}

/** What a user or a caller of the API is told for each kind of trouble (db/client.ts, databaseTrouble). */
export const UNAVAILABLE_MESSAGES = {
  busy: "The database is busy; try again shortly",
  unreachable: "The database cannot be reached just now; try again shortly",
} as const;

/** Too many requests from one caller or for one credential; the same request may be sent after `retryAfterSeconds`. */
export class RateLimitedError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super("rate_limited", message);
  }
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}
