/**
 * An error the client should see as it is: a stable `code` (e.g. `INSUFFICIENT_STOCK`), an HTTP
 * status and optional headers (e.g. `Retry-After`). Unlike other 5xx errors, its message is shown.
 */
export class DomainError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** 503 with Retry-After, for a dependency that is away. */
export function unavailable(code: string, message: string, retryAfterSeconds = 1): DomainError {
  return new DomainError(503, code, message, { 'retry-after': String(retryAfterSeconds) });
}
