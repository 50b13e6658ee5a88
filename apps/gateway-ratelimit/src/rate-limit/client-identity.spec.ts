import { clientIdentity, isValidApiKey, normalizeIp } from './client-identity';

describe('isValidApiKey', () => {
  it('accepts 16-128 URL-safe characters only', () => {
    expect(isValidApiKey('abcdefghij_-0123')).toBe(true);
    expect(isValidApiKey('short')).toBe(false);
    expect(isValidApiKey('has space 0123456789')).toBe(false);
    expect(isValidApiKey('x'.repeat(129))).toBe(false);
    expect(isValidApiKey(['abcdefghij_-0123', 'abcdefghij_-0123'])).toBe(false);
    expect(isValidApiKey(undefined)).toBe(false);
  });
});

describe('normalizeIp', () => {
  it('keeps IPv4 and unwraps IPv4-mapped IPv6', () => {
    expect(normalizeIp('203.0.113.9')).toBe('203.0.113.9');
    expect(normalizeIp('::ffff:203.0.113.9')).toBe('203.0.113.9');
  });

  it('groups IPv6 by /64', () => {
    const a = normalizeIp('2001:db8:1:2:aaaa::1');
    expect(a).toBe('2001:0db8:0001:0002::/64');
    expect(normalizeIp('2001:DB8:1:2:ffff:ffff:ffff:ffff')).toBe(a);
    expect(normalizeIp('2001:db8:1:3::1')).not.toBe(a);
    expect(normalizeIp('::1')).toBe('0000:0000:0000:0000::/64');
    expect(normalizeIp('fe80::1%eth0')).toBe('fe80:0000:0000:0000::/64');
  });
});

describe('clientIdentity', () => {
  it('hashes API keys and prefixes addresses', () => {
    const key = clientIdentity('abcdefghij_-0123', '1.2.3.4');
    expect(key).toMatch(/^key:[0-9a-f]{32}$/);
    expect(key).not.toContain('abcdefghij');
    expect(clientIdentity(undefined, '1.2.3.4')).toBe('ip:1.2.3.4');
  });
});
