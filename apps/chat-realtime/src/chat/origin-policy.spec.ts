import { parseAllowedOrigins } from '@redis-patterns/service-kit';
import { isOriginAllowed, parseTrustProxy, requestHost, trustsPeer } from './origin-policy';

describe('origin policy (auth-session rules)', () => {
  it('allows no Origin, the same host, or a listed origin', () => {
    const listed = ['https://app.example.com'];
    expect(isOriginAllowed(undefined, 'chat:3005', listed)).toBe(true);
    expect(isOriginAllowed('http://chat:3005', 'chat:3005', listed)).toBe(true);
    expect(isOriginAllowed('http://CHAT:3005', 'Chat:3005', listed)).toBe(true);
    expect(isOriginAllowed('https://app.example.com', 'chat:3005', listed)).toBe(true);
    expect(isOriginAllowed('http://evil.example', 'chat:3005', listed)).toBe(false);
    expect(isOriginAllowed('http://chat:3006', 'chat:3005', listed)).toBe(false);
    expect(isOriginAllowed('null', 'chat:3005', listed)).toBe(false);
    expect(isOriginAllowed('not a url', 'chat:3005', listed)).toBe(false);
  });

  it('believes X-Forwarded-Host only from a trusted proxy, and takes its last entry', () => {
    const headers = { host: 'chat:3005', 'x-forwarded-host': 'evil.example, gw.example' };
    const loopback = trustsPeer(parseTrustProxy('loopback'));
    expect(requestHost(headers, '127.0.0.1', loopback)).toBe('gw.example');
    expect(requestHost(headers, '10.1.2.3', loopback)).toBe('chat:3005');
    expect(requestHost(headers, '10.1.2.3', trustsPeer(parseTrustProxy('10.0.0.0/8')))).toBe(
      'gw.example',
    );
    expect(requestHost(headers, '127.0.0.1', trustsPeer(false))).toBe('chat:3005');
    expect(requestHost({ host: 'chat:3005' }, '127.0.0.1', trustsPeer(true))).toBe('chat:3005');
  });

  it('parses the variables as auth-session does', () => {
    expect(parseAllowedOrigins(' https://a.example , http://b.example:8080/')).toEqual([
      'https://a.example',
      'http://b.example:8080',
    ]);
    expect(() => parseAllowedOrigins('https://a.example/app')).toThrow(/ALLOWED_ORIGINS/);
    expect(() => parseAllowedOrigins('a.example')).toThrow(/ALLOWED_ORIGINS/);
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy('loopback, 10.0.0.0/8')).toEqual(['loopback', '10.0.0.0/8']);
    expect(() => parseTrustProxy('10.0.0.1,a b')).toThrow(/TRUST_PROXY/);
    expect(() => parseTrustProxy('nowhere')).toThrow();
  });
});
