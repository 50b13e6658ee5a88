/**
 * Whether a browser request may proceed, by its `Origin` (auth-session's state-changing requests
 * and chat-realtime's WebSocket handshake share this rule). No `Origin` header: not a browser's
 * cross-site request (curl, server-to-server, a native client), allowed; browsers always send it
 * on cross-origin POST/DELETE and on every WebSocket handshake. Same origin: the Origin's host
 * equals the host the request reached (`host`, which follows X-Forwarded-Host only when the proxy
 * is trusted). Otherwise it must be listed; the opaque origin `null` never passes.
 */
export function isOriginAllowed(
  origin: string | undefined,
  host: string,
  allowed: readonly string[],
): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.origin === 'null') return false;
  return url.host === host.toLowerCase() || allowed.includes(url.origin);
}
