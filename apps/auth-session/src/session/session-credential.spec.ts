import { Signer } from '@fastify/cookie';
import { sessionCredentialOf } from './session-credential';

const id = 'A'.repeat(16) + 'b_-'.repeat(5) + 'z';
const signer = new Signer(['n'.repeat(32), 'o'.repeat(32)], 'sha256');
const oldSigner = new Signer(['o'.repeat(32)], 'sha256');
const of = (headers: { authorization?: string; cookie?: string }) =>
  sessionCredentialOf(headers, 'sid', signer);

describe('sessionCredentialOf', () => {
  it('reads a bearer token, case-insensitively on the scheme', () => {
    expect(of({ authorization: `Bearer ${id}` })).toEqual({ via: 'bearer', sessionId: id });
    expect(of({ authorization: `bearer ${id}` })).toEqual({ via: 'bearer', sessionId: id });
  });

  it('a request with an Authorization header is a bearer request, whatever its cookie says', () => {
    const cookie = `sid=${encodeURIComponent(signer.sign(id))}`;
    for (const authorization of [
      'Basic dXNlcjpwYXNz',
      'Bearer',
      'Bearer short',
      '',
      `Bearer ${id}x`,
    ]) {
      expect(of({ authorization, cookie })).toEqual({ via: 'bearer', sessionId: undefined });
    }
  });

  it('reads a signed cookie, and says when an older secret signed it', () => {
    expect(of({ cookie: `a=1; sid=${encodeURIComponent(signer.sign(id))}` })).toEqual({
      via: 'cookie',
      sessionId: id,
      renew: false,
    });
    expect(of({ cookie: `sid=${encodeURIComponent(oldSigner.sign(id))}` })).toEqual({
      via: 'cookie',
      sessionId: id,
      renew: true,
    });
  });

  it('a bad signature, a token as a cookie or a foreign id is no session', () => {
    for (const value of [`${id}.forged`, id, signer.sign('not-an-id'), '%zz']) {
      expect(of({ cookie: `sid=${value}` })).toEqual({
        via: 'cookie',
        sessionId: undefined,
        renew: false,
      });
    }
    expect(of({ cookie: 'other=1' })).toEqual({ via: 'none' });
    expect(of({})).toEqual({ via: 'none' });
  });
});
