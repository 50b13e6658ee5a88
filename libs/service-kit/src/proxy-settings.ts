import { ConfigError } from './env-config';
// Settings every service behind the gateway reads the same way: whose X-Forwarded-* to believe
// (TRUST_PROXY) and which browser origins besides its own it accepts (ALLOWED_ORIGINS).
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

/** What a service facing browsers through the gateway reads from `TRUST_PROXY` and `ALLOWED_ORIGINS`. */
export interface BrowserPolicy {
  allowedOrigins: string[];
  trustProxy: TrustProxy;
}

/**
 * Parses both variables, throwing a `ConfigError` that names the bad one. `parseTrust` may
 * tighten the TRUST_PROXY rule (chat-realtime also compiles the entries at boot).
 */
export function browserPolicyOf(
  env: { ALLOWED_ORIGINS: string; TRUST_PROXY: string },
  parseTrust: (value: string) => TrustProxy = parseTrustProxy,
): BrowserPolicy {
  let allowedOrigins: string[];
  try {
    allowedOrigins = parseAllowedOrigins(env.ALLOWED_ORIGINS);
  } catch (error) {
    throw new ConfigError('ALLOWED_ORIGINS', (error as Error).message);
  }
  try {
    return { allowedOrigins, trustProxy: parseTrust(env.TRUST_PROXY) };
  } catch (error) {
    throw new ConfigError('TRUST_PROXY', (error as Error).message);
  }
}
