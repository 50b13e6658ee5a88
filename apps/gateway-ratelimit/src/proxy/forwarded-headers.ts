import { isIP } from 'node:net';

/**
 * The entries of incoming `X-Forwarded-For` fields, or `undefined` when any entry is not an IP
 * address: such a chain was not written by a proxy, and believing it would let a client name
 * its own rate-limit bucket (`X-Forwarded-For: anything`).
 */
export function forwardedChain(incoming: string | string[] | undefined): string[] | undefined {
  const chain = (Array.isArray(incoming) ? incoming.join(',') : (incoming ?? ''))
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  return chain.every((entry) => isIP(entry) !== 0) ? chain : undefined;
}

/**
 * `X-Forwarded-For` as the upstream should see it: the incoming chain (validated) plus the
 * peer that connected to the gateway, so the upstream can apply the same trust rules.
 */
export function appendForwardedFor(chain: readonly string[], peer: string): string {
  return [...chain, peer].join(', ');
}
