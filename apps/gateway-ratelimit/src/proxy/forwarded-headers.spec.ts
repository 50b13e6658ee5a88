import { appendForwardedFor } from './forwarded-headers';

describe('appendForwardedFor', () => {
  it('starts a chain or appends the peer to it', () => {
    expect(appendForwardedFor(undefined, '10.0.0.1')).toBe('10.0.0.1');
    expect(appendForwardedFor('1.1.1.1, 2.2.2.2', '10.0.0.1')).toBe('1.1.1.1, 2.2.2.2, 10.0.0.1');
    expect(appendForwardedFor(['1.1.1.1', '2.2.2.2'], '::1')).toBe('1.1.1.1, 2.2.2.2, ::1');
  });
});
