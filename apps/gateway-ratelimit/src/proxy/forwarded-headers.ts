/**
 * `X-Forwarded-For` as the upstream should see it: the incoming chain (if any) plus the peer
 * that connected to the gateway, so the upstream can apply the same trust rules as the gateway.
 */
export function appendForwardedFor(incoming: string | string[] | undefined, peer: string): string {
  const chain = (Array.isArray(incoming) ? incoming.join(',') : (incoming ?? ''))
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  return [...chain, peer].join(', ');
}
