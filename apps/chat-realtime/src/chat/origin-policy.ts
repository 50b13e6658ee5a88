import type { IncomingHttpHeaders } from 'node:http';
import { compile } from '@fastify/proxy-addr';
import {
  parseTrustProxy as parseSharedTrustProxy,
  type TrustProxy,
} from '@redis-patterns/service-kit';

/**
 * service-kit's `TRUST_PROXY` rules (auth-session reads the same), with the entries compiled
 * once here so that a name proxy-addr does not know fails at boot, not per request.
 */
export function parseTrustProxy(value: string): TrustProxy {
  const trust = parseSharedTrustProxy(value);
  if (Array.isArray(trust)) compile(trust);
  return trust;
}

/** Whether `peer` is a proxy whose `X-Forwarded-*` headers are believed. */
export function trustsPeer(trust: TrustProxy): (peer: string | undefined) => boolean {
  if (trust === true) return () => true;
  if (trust === false) return () => false;
  const trusted = compile(trust);
  return (peer) => peer !== undefined && trusted(peer, 0);
}

/**
 * The host the browser reached, as Fastify's `request.host` computes it: the last
 * `X-Forwarded-Host` when the peer is a trusted proxy, else `Host`.
 */
export function requestHost(
  headers: IncomingHttpHeaders,
  peer: string | undefined,
  trusted: (peer: string | undefined) => boolean,
): string {
  const forwarded = headers['x-forwarded-host'];
  if (forwarded && trusted(peer)) {
    const value = Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
    const last = value.split(',').at(-1)?.trim();
    if (last) return last;
  }
  return headers.host ?? '';
}

/**
 * service-kit's rule, the one auth-session applies to a browser request. Why on the WebSocket
 * handshake: browsers send cookies with a cross-site WebSocket and no CORS applies to it, so
 * without this check any page could open a socket as its visitor (cross-site WebSocket
 * hijacking).
 */
export { isOriginAllowed } from '@redis-patterns/service-kit';
