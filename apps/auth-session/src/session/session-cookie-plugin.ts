import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { DomainError } from '@redis-patterns/service-kit';
import type { SessionSettings } from '../config';
import { isOriginAllowed } from '../http/origin-policy';
import type { RedisSessionStore } from './redis-session-store';
import { SessionAuth } from './session-auth';

declare module 'fastify' {
  interface FastifyInstance {
    /** Reads and checks the session a request presents (cookie or bearer token). */
    sessionAuth: SessionAuth;
  }
}

export interface SessionCookieOptions {
  store: RedisSessionStore;
  session: SessionSettings;
  /** Origins besides the service's own allowed to send state-changing requests. */
  allowedOrigins: string[];
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The session layer of the routes it is registered beside: `app.sessionAuth`, and the Origin
 * check of cookie requests. A route that needs the session reads it itself
 * (`sessionAuth.authenticate`), so register and login never touch it, nor do health, metrics
 * and docs.
 */
const sessionCookie: FastifyPluginAsync<SessionCookieOptions> = async (app, options) => {
  const auth = new SessionAuth(options.store, options.session);
  app.decorate('sessionAuth', auth);

  // Before any work: a forged cross-site request costs no Redis call. A bearer request is
  // exempt: its header cannot be sent cross-site without a CORS preflight, and it never reads
  // the cookie (see session-credential.ts); cookie requests keep the check.
  app.addHook('onRequest', async (request) => {
    if (!STATE_CHANGING.has(request.method)) return;
    if (auth.credential(request).via === 'bearer') return;
    if (!isOriginAllowed(request.headers.origin, request.host, options.allowedOrigins)) {
      throw new DomainError(403, 'FOREIGN_ORIGIN', 'Cross-origin request refused');
    }
  });
};

export const sessionCookiePlugin = fp(sessionCookie, {
  name: 'auth-session-session-cookie',
  fastify: '5.x',
});
