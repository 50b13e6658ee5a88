import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fastifyCookie, Signer } from '@fastify/cookie';
import { DomainError } from '@redis-patterns/service-kit';
import type { SessionSettings } from '../config';
import type { RedisSessionStore } from './redis-session-store';
import { sessionCredentialOf, type SessionCredential } from './session-credential';
import type { SessionRecord } from './session-record';

/** The logged-in session a request presented. */
export interface CurrentSession {
  sessionId: string;
  record: SessionRecord;
  via: 'bearer' | 'cookie';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Read once per request by `SessionAuth.credential`. */
    sessionCredential?: SessionCredential;
  }
}

/** A new session id: 24 random bytes, base64url (what `isSessionId` accepts). */
export function newSessionId(): string {
  return randomBytes(24).toString('base64url');
}

function unauthenticated(): DomainError {
  return new DomainError(401, 'UNAUTHENTICATED', 'Not logged in');
}

/**
 * Sessions as requests present them: a signed cookie (browsers) or a bearer token (mobile, CLI,
 * services), both naming the same kind of session in the same store, with the same lifetimes
 * and the same revocation. A bearer token is the session id itself: opaque, 192 random bits,
 * never derived from the signing secrets (so rotating them does not end tokens); the cookie
 * carries that id signed, so a cookie value is not a token and a token is not a cookie.
 */
export class SessionAuth {
  private readonly signer: Signer;

  constructor(
    private readonly store: RedisSessionStore,
    private readonly settings: SessionSettings,
  ) {
    this.signer = new Signer(settings.secrets, 'sha256');
  }

  credential(request: FastifyRequest): SessionCredential {
    request.sessionCredential ??= sessionCredentialOf(
      request.headers,
      this.settings.cookieName,
      this.signer,
    );
    return request.sessionCredential;
  }

  /** The request's live session (one store round trip, which slides its idle TTL), or 401. */
  async authenticate(request: FastifyRequest, reply: FastifyReply): Promise<CurrentSession> {
    const credential = this.credential(request);
    if (credential.via === 'none' || credential.sessionId === undefined) {
      if (credential.via === 'cookie') this.clearCookie(reply);
      throw unauthenticated();
    }
    const record = await this.store.load(credential.sessionId);
    if (!record) {
      if (credential.via === 'cookie') this.clearCookie(reply);
      throw unauthenticated();
    }
    // Signed with an older secret: re-issue it under the newest, so the old one can retire.
    if (credential.via === 'cookie' && credential.renew) {
      this.setCookie(reply, credential.sessionId, record.expiresAt);
    }
    return { sessionId: credential.sessionId, record, via: credential.via };
  }

  setCookie(reply: FastifyReply, sessionId: string, expiresAt: number): void {
    reply.header(
      'set-cookie',
      fastifyCookie.serialize(this.settings.cookieName, this.signer.sign(sessionId), {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: this.settings.cookieSecure,
        expires: new Date(expiresAt),
      }),
    );
  }

  clearCookie(reply: FastifyReply): void {
    reply.header(
      'set-cookie',
      fastifyCookie.serialize(this.settings.cookieName, '', {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: this.settings.cookieSecure,
        expires: new Date(0),
      }),
    );
  }
}
