import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Hop-by-hop fields (RFC 9110 7.6.1, plus the pre-standard `keep-alive` and
 * `proxy-connection`): they describe one connection and are never forwarded. `expect` is
 * answered by the gateway itself (Node sends `100 Continue`), so it is not forwarded either;
 * `host` and `content-length` are set for the upstream request.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);
const REQUEST_ONLY = new Set(['expect', 'host', 'content-length']);

/** The fields a `Connection` header names: hop-by-hop for this message only. */
function connectionNamed(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    text
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
}

function endToEnd(
  headers: IncomingHttpHeaders,
  dropped: ReadonlySet<string>,
): Record<string, string | string[]> {
  const named = connectionNamed(headers.connection);
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name) || named.has(name)) {
      continue;
    }
    kept[name] = value;
  }
  return kept;
}

/** The request fields the upstream may see. */
export function forwardableRequestHeaders(
  headers: IncomingHttpHeaders,
): Record<string, string | string[]> {
  return endToEnd(headers, REQUEST_ONLY);
}

/** The response fields the client may see (Node frames the body itself). */
export function forwardableResponseHeaders(
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
): Record<string, string | string[]> {
  return endToEnd(headers as IncomingHttpHeaders, new Set());
}
