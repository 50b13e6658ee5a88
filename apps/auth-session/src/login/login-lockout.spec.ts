import { ReplyError } from 'ioredis';
import { certainlyNotApplied, lockedOut, retryAfterSeconds } from './login-lockout';

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

describe('certainlyNotApplied', () => {
  it('is true only for a Redis error reply or a command never written', () => {
    expect(
      certainlyNotApplied(
        new ReplyError('READONLY You can not write against a read only replica.'),
      ),
    ).toBe(true);
    expect(
      certainlyNotApplied(
        new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      ),
    ).toBe(true);
    expect(certainlyNotApplied(new Error('Command timed out'))).toBe(false);
    expect(certainlyNotApplied(new Error('Connection is closed.'))).toBe(false);
    expect(certainlyNotApplied('nope')).toBe(false);
  });
});
