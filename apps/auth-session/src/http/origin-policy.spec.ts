import { parseAllowedOrigins } from '@redis-patterns/service-kit';
import { isOriginAllowed } from './origin-policy';

describe('isOriginAllowed', () => {
  const allowed = ['https://app.example.com'];

  it('lets non-browser clients through (no Origin)', () => {
    expect(isOriginAllowed(undefined, 'auth:3002', allowed)).toBe(true);
  });

  it('allows the same origin: the Origin host equals Host', () => {
    expect(isOriginAllowed('http://localhost:3000', 'localhost:3000', [])).toBe(true);
    expect(isOriginAllowed('http://LOCALHOST:3000', 'localhost:3000', [])).toBe(true);
  });

  it('allows listed origins and refuses the rest', () => {
    expect(isOriginAllowed('https://app.example.com', 'auth:3002', allowed)).toBe(true);
    expect(isOriginAllowed('https://evil.example', 'auth:3002', allowed)).toBe(false);
    expect(isOriginAllowed('http://localhost:3001', 'localhost:3000', [])).toBe(false);
  });

  it('refuses opaque and malformed origins', () => {
    expect(isOriginAllowed('null', 'localhost:3000', allowed)).toBe(false);
    expect(isOriginAllowed('not a url', 'localhost:3000', allowed)).toBe(false);
  });
});

describe('parseAllowedOrigins', () => {
  it('normalizes a list of origins', () => {
    expect(parseAllowedOrigins(' https://a.example , http://b.example:8080/ ')).toEqual([
      'https://a.example',
      'http://b.example:8080',
    ]);
    expect(parseAllowedOrigins('')).toEqual([]);
  });

  it('refuses URLs with a path and non-URLs, naming the variable', () => {
    expect(() => parseAllowedOrigins('https://a.example/app')).toThrow(/ALLOWED_ORIGINS/);
    expect(() => parseAllowedOrigins('a.example')).toThrow(/ALLOWED_ORIGINS/);
  });
});
