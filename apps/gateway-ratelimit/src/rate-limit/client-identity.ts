import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** What an `x-api-key` must look like: 16 to 128 URL-safe characters. */
export const API_KEY_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** True when the header value is one well-formed API key (not a list, not repeated). */
export function isValidApiKey(value: string | string[] | undefined): value is string {
  return typeof value === 'string' && API_KEY_PATTERN.test(value);
}

/** Expands an IPv6 address to 8 groups of 4 hex digits (IPv4-embedded tails included). */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase().split('%')[0];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const bytes = v4[1].split('.').map(Number);
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    text = `${text.slice(0, -v4[1].length)}${hex(bytes[0], bytes[1])}:${hex(bytes[2], bytes[3])}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((group) => group.padStart(4, '0'));
}

/**
 * The rate-limit subject of an address: IPv4 as is; IPv6 by its /64 network, because one
 * subscriber usually holds a whole /64 and could otherwise rotate through 2^64 addresses;
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as the IPv4 address.
 */
export function normalizeIp(address: string): string {
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address.toLowerCase();
  const groups = expandIPv6(address);
  if (groups.slice(0, 5).every((g) => g === '0000') && groups[5] === 'ffff') {
    const [a, b] = [parseInt(groups[6], 16), parseInt(groups[7], 16)];
    return [a >> 8, a & 255, b >> 8, b & 255].join('.');
  }
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** Who a request counts against: `key:<consumer>` for an issued API key, else `ip:<address or /64>`. */
export function clientIdentity(consumer: string | undefined, ip: string): string {
  return consumer !== undefined ? `key:${consumer}` : `ip:${normalizeIp(ip)}`;
}

/**
 * Who a `username` limit counts: the `username` field of a JSON body (trimmed, lower-cased, as
 * auth-session compares it), hashed so that no username sits in a Redis key name. A body without
 * one counts as `user:none`: such a login fails upstream anyway, and it shares one bucket.
 */
export function usernameSubject(body: unknown): string {
  let username: unknown;
  if (Buffer.isBuffer(body) && body.length > 0 && body.length <= 64 * 1024) {
    try {
      username = (JSON.parse(body.toString('utf8')) as { username?: unknown } | null)?.username;
    } catch {
      username = undefined;
    }
  }
  if (typeof username !== 'string' || username.trim() === '') return 'user:none';
  const normalized = username.trim().toLowerCase();
  return `user:${createHash('sha256').update(normalized).digest('hex').slice(0, 32)}`;
}
