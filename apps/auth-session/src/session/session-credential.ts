import { fastifyCookie, type Signer } from '@fastify/cookie';
import { isSessionId } from './session-record';

/**
 * What a request presents as its session. A request with an `Authorization` header is a bearer
 * request: its cookie is never read, so a browser's ambient cookie cannot ride along with a
 * header the page chose (and a page cannot set that header cross-site without a CORS preflight,
 * which this service never grants: that is why bearer requests need no Origin check).
 */
export type SessionCredential =
  /** `Authorization: Bearer <token>`; `sessionId` undefined when the header is not one. */
  | { via: 'bearer'; sessionId: string | undefined }
  /** The signed cookie; `sessionId` undefined when its signature does not verify. `renew`: signed with an older secret. */
  | { via: 'cookie'; sessionId: string | undefined; renew: boolean }
  | { via: 'none' };

const BEARER = /^Bearer +([A-Za-z0-9_-]+) *$/i;

/** Reads the credential from the request headers; never throws. */
export function sessionCredentialOf(
  headers: { authorization?: string; cookie?: string },
  cookieName: string,
  signer: Signer,
): SessionCredential {
  if (headers.authorization !== undefined) {
    const token = BEARER.exec(headers.authorization)?.[1];
    return {
      via: 'bearer',
      sessionId: token !== undefined && isSessionId(token) ? token : undefined,
    };
  }
  if (headers.cookie === undefined) return { via: 'none' };
  const value = fastifyCookie.parse(headers.cookie)[cookieName];
  if (value === undefined) return { via: 'none' };
  const unsigned = signer.unsign(value);
  if (!unsigned.valid || unsigned.value === null || !isSessionId(unsigned.value)) {
    return { via: 'cookie', sessionId: undefined, renew: false };
  }
  return { via: 'cookie', sessionId: unsigned.value, renew: unsigned.renew };
}
