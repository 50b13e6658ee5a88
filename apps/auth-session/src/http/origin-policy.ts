/**
 * Parses `ALLOWED_ORIGINS`: a comma list of `scheme://host[:port]` origins (besides the service's
 * own) from which browsers may send state-changing requests.
 */
export function parseAllowedOrigins(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        throw new Error(
          `ALLOWED_ORIGINS must list origins like https://app.example.com, got "${entry}"`,
        );
      }
      if (url.origin === 'null' || url.origin !== entry.replace(/\/$/, '').toLowerCase()) {
        throw new Error(
          `ALLOWED_ORIGINS must list bare origins (scheme://host[:port]), got "${entry}"`,
        );
      }
      return url.origin;
    });
}

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
