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

/**
 * Who a request counts against: `key:<hash>` for an API key (hashed, so keys never sit in
 * Redis key names), else `ip:<address or /64>`.
 */
export function clientIdentity(apiKey: string | undefined, ip: string): string {
  if (apiKey !== undefined) {
    return `key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 32)}`;
  }
  return `ip:${normalizeIp(ip)}`;
}
