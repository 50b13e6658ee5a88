import { clientIdentity, isValidApiKey, normalizeIp, usernameSubject } from './client-identity';

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
  it('names the consumer of a key, else the address', () => {
    expect(clientIdentity('acme', '1.2.3.4')).toBe('key:acme');
    expect(clientIdentity(undefined, '1.2.3.4')).toBe('ip:1.2.3.4');
  });
});

describe('usernameSubject', () => {
  const body = (value: unknown) => Buffer.from(JSON.stringify(value));

  it('counts one target username however it is written, never in clear', () => {
    const subject = usernameSubject(body({ username: 'Alice', password: 'x' }));
    expect(subject).toMatch(/^user:[0-9a-f]{32}$/);
    expect(usernameSubject(body({ username: ' alice ' }))).toBe(subject);
    expect(usernameSubject(body({ username: 'bob' }))).not.toBe(subject);
  });

  it('puts bodies without a username in one bucket', () => {
    expect(usernameSubject(undefined)).toBe('user:none');
    expect(usernameSubject(Buffer.from('not json'))).toBe('user:none');
    expect(usernameSubject(body({ username: 7 }))).toBe('user:none');
    expect(usernameSubject(body(null))).toBe('user:none');
  });
});
