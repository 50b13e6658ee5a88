import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fastifyCookie, { Signer } from '@fastify/cookie';
import fastifySession from '@fastify/session';
import { DomainError, ErrorBody, unavailable } from '@redis-patterns/service-kit';
import type { SessionSettings } from '../config';
import { isOriginAllowed } from '../http/origin-policy';
import type { LoginLockout } from '../login/login-lockout';
import { hashPassword, verifyPassword, type ScryptParams } from '../login/password-hash';
import type { RedisSessionStore } from '../session/redis-session-store';
import { publicSessionId } from '../session/session-record';
import type { UserRepository } from '../users/user-repository';
import {
  Credentials,
  LoginBody,
  Me,
  Revoked,
  SessionList,
  SessionParams,
  User,
} from './auth-schemas';

/** The label of `logins_total`. */
export type LoginResult = 'success' | 'invalid_credentials' | 'locked' | 'unavailable';

export interface AuthRoutesOptions {
  store: RedisSessionStore;
  lockout: LoginLockout;
  users: UserRepository;
  session: SessionSettings;
  /** Origins besides the service's own allowed to send state-changing requests. */
  allowedOrigins: string[];
  /** Cost of new password hashes. */
  scrypt: ScryptParams;
  /** A hash of a random password, verified for unknown users so they take as long as known ones. */
  dummyHash: string;
  logins: { inc(labels: { result: LoginResult }): void };
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const MAX_USER_AGENT = 256;

function unauthenticated(): DomainError {
  return new DomainError(401, 'UNAUTHENTICATED', 'Not logged in');
}

/** The logged-in session of the request, or 401. */
function currentSession(request: FastifyRequest) {
  const session = request.session;
  if (!session?.userId || !session.username || !session.createdAt || !session.expiresAt) {
    throw unauthenticated();
  }
  return {
    sessionId: session.sessionId,
    userId: session.userId,
    username: session.username,
    createdAt: session.createdAt,
    lastSeenAt: session.lastSeenAt ?? session.createdAt,
    expiresAt: session.expiresAt,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

// Route bodies and params are validated by their schemas, but the type provider resolves its
// own copy of @sinclair/typebox (see the README), so handlers name the static types themselves.

/**
 * The /auth routes with @fastify/cookie and @fastify/session registered in their own scope, so
 * health, metrics and docs never touch the session store.
 */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, options) => {
  const { store, lockout, users, session: settings } = options;

  const clearSessionCookie = (reply: FastifyReply) =>
    reply.clearCookie(settings.cookieName, { path: '/' });

  // Before the session is loaded: a forged cross-site request costs no Redis call.
  app.addHook('onRequest', async (request) => {
    if (!STATE_CHANGING.has(request.method)) return;
    if (!isOriginAllowed(request.headers.origin, request.host, options.allowedOrigins)) {
      throw new DomainError(403, 'FOREIGN_ORIGIN', 'Cross-origin request refused');
    }
  });

  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    // A signer object rather than the secrets: @fastify/session would otherwise require its
    // own copy of @fastify/cookie, which npm may not hoist where it can find it.
    secret: new Signer(settings.secrets, 'sha256'),
    cookieName: settings.cookieName,
    store,
    // Only a login creates a stored session, and use never rewrites it: the store slides the
    // idle TTL itself on every read.
    saveUninitialized: false,
    rolling: false,
    cookie: {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: settings.cookieSecure,
      maxAge: settings.maxSeconds * 1000,
    },
  });

  // A cookie signed with an older secret still verifies; re-issue it under the newest one so
  // the old secret can be retired. (@fastify/session would otherwise clear it.)
  app.addHook('onSend', async (request, reply) => {
    const session = request.session;
    // Undefined when an earlier onRequest hook refused the request before cookies were parsed.
    const sent = request.cookies?.[settings.cookieName];
    if (!session?.userId || !session.expiresAt || !sent || sent === session.encryptedSessionId) {
      return;
    }
    reply.setCookie(settings.cookieName, session.encryptedSessionId, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: settings.cookieSecure,
      expires: new Date(session.expiresAt),
    });
  });

  app.post(
    '/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create a user',
        body: Credentials,
        response: { 201: User, 400: ErrorBody, 403: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body as Credentials;
      const hash = await hashPassword(body.password, options.scrypt);
      const user = await users.create(body.username, hash);
      return reply.code(201).send(user);
    },
  );

  app.post(
    '/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in: a new session and its cookie (any previous session id is destroyed)',
        body: Credentials,
        response: {
          200: LoginBody,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          429: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request) => {
      const { username, password } = request.body as Credentials;
      const name = username.toLowerCase();
      const ip = request.ip;
      try {
        await lockout.assertAllowed(name, ip);
      } catch (error) {
        if (error instanceof DomainError) {
          options.logins.inc({ result: 'locked' });
          throw error;
        }
        options.logins.inc({ result: 'unavailable' });
        throw unavailable('LOCKOUT_UNAVAILABLE', 'Login is unavailable, try again shortly');
      }
      const user = await users.findByUsername(username);
      // Unknown users cost one scrypt too, so timing does not tell which names exist.
      const valid = await verifyPassword(password, user?.passwordHash ?? options.dummyHash);
      if (!user || !valid) {
        await lockout.recordFailure(name, ip).catch(() => {
          options.logins.inc({ result: 'unavailable' });
          throw unavailable('LOCKOUT_UNAVAILABLE', 'Login is unavailable, try again shortly');
        });
        options.logins.inc({ result: 'invalid_credentials' });
        throw new DomainError(401, 'INVALID_CREDENTIALS', 'Invalid username or password');
      }
      await lockout.reset(name, ip).catch(() => {
        throw unavailable('LOCKOUT_UNAVAILABLE', 'Login is unavailable, try again shortly');
      });
      // Fixation: whatever id the browser came with is destroyed; the login gets a fresh one.
      await request.session.regenerate();
      request.session.set('userId', user.id);
      request.session.set('username', user.username);
      request.session.set('ip', ip);
      request.session.set(
        'userAgent',
        (request.headers['user-agent'] ?? '').slice(0, MAX_USER_AGENT),
      );
      await request.session.save();
      options.logins.inc({ result: 'success' });
      return { user: { id: user.id, username: user.username } };
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The logged-in user and session (other services verify a cookie with it)',
        response: { 200: Me, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      const current = currentSession(request);
      return {
        user: { id: current.userId, username: current.username },
        session: {
          id: publicSessionId(current.sessionId),
          createdAt: iso(current.createdAt),
          lastSeenAt: iso(current.lastSeenAt),
          expiresAt: iso(current.expiresAt),
        },
      };
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'End this session on every replica',
        response: { 204: { type: 'null' }, 403: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      if (request.session?.userId) await request.session.destroy();
      clearSessionCookie(reply);
      return reply.code(204).send();
    },
  );

  app.get(
    '/sessions',
    {
      schema: {
        tags: ['auth'],
        summary: "The caller's active sessions",
        response: { 200: SessionList, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      const current = currentSession(request);
      const sessions = await store.listForUser(current.userId);
      return {
        sessions: sessions.map(({ sessionId, record }) => ({
          id: publicSessionId(sessionId),
          createdAt: iso(record.createdAt),
          lastSeenAt: iso(record.lastSeenAt),
          expiresAt: iso(record.expiresAt),
          ip: record.ip,
          userAgent: record.userAgent,
          requests: record.requests,
          current: sessionId === current.sessionId,
        })),
      };
    },
  );

  app.delete(
    '/sessions/:id',
    {
      schema: {
        tags: ['auth'],
        summary: "Revoke one of the caller's sessions",
        params: SessionParams,
        response: {
          204: { type: 'null' },
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const current = currentSession(request);
      const target = (await store.listForUser(current.userId)).find(
        ({ sessionId }) => publicSessionId(sessionId) === (request.params as SessionParams).id,
      );
      // Another user's session id is indistinguishable from a made-up one.
      if (!target) throw new DomainError(404, 'SESSION_NOT_FOUND', 'No such session');
      await store.remove(target.sessionId);
      if (target.sessionId === current.sessionId) clearSessionCookie(reply);
      return reply.code(204).send();
    },
  );

  app.delete(
    '/sessions',
    {
      schema: {
        tags: ['auth'],
        summary: "Revoke all the caller's other sessions (log out other devices)",
        response: { 200: Revoked, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      const current = currentSession(request);
      const others = (await store.listForUser(current.userId)).filter(
        ({ sessionId }) => sessionId !== current.sessionId,
      );
      await Promise.all(others.map(({ sessionId }) => store.remove(sessionId)));
      return { revoked: others.length };
    },
  );
};
