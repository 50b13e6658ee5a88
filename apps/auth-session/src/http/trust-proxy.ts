/** What Fastify's `trustProxy` gets: off, every hop, or the proxies to believe. */
export type TrustProxy = boolean | string[];

/**
 * Parses `TRUST_PROXY`: `false` (the socket address is the client), `true` (believe every
 * X-Forwarded-For hop: only behind a proxy that overwrites the header), or a comma list of
 * proxy addresses, CIDRs or proxy-addr names (`loopback`, `uniquelocal`).
 */
export function parseTrustProxy(value: string): TrustProxy {
  const text = value.trim();
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const bad = entries.find((entry) => !/^[0-9A-Za-z.:/]+$/.test(entry));
  if (bad !== undefined) {
    throw new Error(
      `TRUST_PROXY must be true, false or a comma list of addresses/CIDRs, got "${bad}"`,
    );
  }
  return entries;
}
