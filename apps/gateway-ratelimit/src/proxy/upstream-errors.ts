/** The connection was refused: nothing was sent, so any method may go to the next replica. */
export const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
export const TIMEOUTS = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** A pooled keep-alive socket the upstream closed (e.g. while draining): the request may have arrived. */
export const RESET = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED']);
/** Methods safe to send twice, so a reset socket may be retried on another replica. */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The first meaningful `code` of an error and its causes. */
export function causeCode(error: unknown): string {
  let current: unknown = error;
  const codes: string[] = [];
  for (let depth = 0; current && depth < 4; depth += 1) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') codes.push(code);
    current = cause;
  }
  return (
    codes.find((code) => REFUSED.has(code) || TIMEOUTS.has(code) || RESET.has(code)) ??
    codes[0] ??
    ''
  );
}
