/** RFC 3986 unreserved characters: percent-encoding them changes nothing, so it is undone. */
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Thrown for a path no server would route (broken percent-encoding, NUL). */
export class InvalidPathError extends Error {}

/**
 * Percent-decodes unreserved characters and upper-cases the hex of the other encodings
 * (RFC 3986 6.2.2.1-2), so `/api/auth/%6cogin` and `/api/%61uth/login` read `/api/auth/login`;
 * `%2F` stays encoded (it is data, not a separator).
 */
function decodeUnreserved(path: string): string {
  return path.replace(/%(.{0,2})/g, (match, hex: string) => {
    if (!/^[0-9A-Fa-f]{2}$/.test(hex))
      throw new InvalidPathError(`bad percent-encoding "${match}"`);
    const char = String.fromCharCode(parseInt(hex, 16));
    if (char === '\0') throw new InvalidPathError('NUL in path');
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/** RFC 3986 5.2.4 remove_dot_segments, on a path that starts with `/`. */
function removeDotSegments(path: string): string {
  const output: string[] = [];
  const segments = path.split('/').slice(1);
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') output.pop();
      // `/a/b/..` is `/a/`: a trailing dot segment leaves the directory.
      if (last) output.push('');
      return;
    }
    output.push(segment);
  });
  return `/${output.join('/')}`;
}

/**
 * The one path the gateway routes, limits and sends upstream: unreserved characters decoded,
 * empty segments merged (as nginx's `merge_slashes`), dot segments removed. Matching policies on
 * anything else would let `/api/auth/./login` count against another policy than the login it
 * reaches. Throws `InvalidPathError` for a path that is not a valid absolute path.
 */
export function normalizePath(path: string): string {
  if (!path.startsWith('/')) throw new InvalidPathError('path must start with /');
  const decoded = decodeUnreserved(path).replace(/\/{2,}/g, '/');
  return removeDotSegments(decoded);
}

/** Splits a request target into its path and its query (with the `?`, or empty). */
export function splitTarget(url: string): { path: string; query: string } {
  const at = url.indexOf('?');
  return at === -1 ? { path: url, query: '' } : { path: url.slice(0, at), query: url.slice(at) };
}
