import { appendForwardedFor, forwardedChain } from './forwarded-headers';

describe('forwardedChain', () => {
  it('reads one or several fields of addresses', () => {
    expect(forwardedChain(undefined)).toEqual([]);
    expect(forwardedChain('1.1.1.1, 2001:db8::1')).toEqual(['1.1.1.1', '2001:db8::1']);
    expect(forwardedChain(['1.1.1.1', '2.2.2.2'])).toEqual(['1.1.1.1', '2.2.2.2']);
  });

  it('refuses a chain with anything that is not an address', () => {
    expect(forwardedChain('attacker-bucket-7')).toBeUndefined();
    expect(forwardedChain('1.1.1.1, unknown')).toBeUndefined();
    expect(forwardedChain('1.1.1.1:80')).toBeUndefined();
    expect(forwardedChain('999.1.1.1')).toBeUndefined();
  });
});

describe('appendForwardedFor', () => {
  it('starts a chain or appends the peer to it', () => {
    expect(appendForwardedFor([], '10.0.0.1')).toBe('10.0.0.1');
    expect(appendForwardedFor(['1.1.1.1', '2.2.2.2'], '::1')).toBe('1.1.1.1, 2.2.2.2, ::1');
  });
});
