import { parseTrustProxy } from './proxy-settings';

describe('parseTrustProxy', () => {
  it('reads booleans', () => {
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('')).toBe(false);
    expect(parseTrustProxy('true')).toBe(true);
  });

  it('reads a list of proxies', () => {
    expect(parseTrustProxy('loopback, 10.0.0.0/8,::1')).toEqual(['loopback', '10.0.0.0/8', '::1']);
  });

  it('refuses something that is not an address', () => {
    expect(() => parseTrustProxy('10.0.0.1,a b')).toThrow(/TRUST_PROXY/);
  });
});
