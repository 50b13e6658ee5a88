import { createSessionKeys } from './session-keys';

describe('createSessionKeys', () => {
  const keys = createSessionKeys('auth');

  it('puts every key under the prefix', () => {
    expect(keys.session('abc')).toBe('auth:session:abc');
    expect(keys.userSessions('42')).toBe('auth:user:42:sessions');
    expect(keys.activeSessions()).toBe('auth:sessions:active');
    expect(keys.loginAttempts('alice', '::1')).toBe('auth:{alice}:login-attempts:::1');
    expect(keys.userLoginAttempts('alice')).toBe('auth:{alice}:login-attempts');
    expect(keys.knownClient('alice', '::1')).toBe('auth:{alice}:known-client:::1');
  });

  it("puts a username's lockout keys in one Cluster slot (one script uses them together)", () => {
    const slot = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];
    expect(slot(keys.loginAttempts('bob', '10.0.0.1'))).toBe('bob');
    expect(slot(keys.userLoginAttempts('bob'))).toBe('bob');
    expect(slot(keys.knownClient('bob', '10.0.0.2'))).toBe('bob');
  });

  it('refuses parts that could break out of the key', () => {
    expect(() => keys.session('a b')).toThrow();
    expect(() => keys.loginAttempts('{x}', '1.2.3.4')).toThrow();
  });
});
