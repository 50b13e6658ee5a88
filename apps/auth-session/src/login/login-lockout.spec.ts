import { lockedOut, retryAfterSeconds } from './login-lockout';

describe('lockout answers', () => {
  it('rounds Retry-After up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(-2)).toBe(1);
  });

  it('is a 429 with a stable code and the header', () => {
    const error = lockedOut(899_500);
    expect(error.statusCode).toBe(429);
    expect(error.code).toBe('LOGIN_LOCKED');
    expect(error.headers).toEqual({ 'retry-after': '900' });
  });
});
