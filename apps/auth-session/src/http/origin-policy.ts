/**
 * Whether a state-changing request may proceed. No `Origin` header: not a browser's cross-site
 * request (curl, server-to-server), allowed; browsers always send it on cross-origin POST/DELETE.
 * Same origin: the Origin's host equals the Host the request reached (`host`, which follows
 * X-Forwarded-Host only when the proxy is trusted). Otherwise it must be listed.
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
