import { createSessionKeys } from './session-keys';

describe('createSessionKeys', () => {
  const keys = createSessionKeys('auth');

  it('puts every key under the prefix', () => {
    expect(keys.session('abc')).toBe('auth:session:abc');
    expect(keys.userSessions('42')).toBe('auth:user:42:sessions');
    expect(keys.activeSessions()).toBe('auth:sessions:active');
    expect(keys.loginFailures('alice', '::1')).toBe('auth:login-failures:alice:::1');
  });

  it('refuses parts that could break out of the key', () => {
    expect(() => keys.session('a b')).toThrow();
    expect(() => keys.loginFailures('{x}', '1.2.3.4')).toThrow();
  });
});
