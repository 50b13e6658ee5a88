import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { ErrorBody } from '@redis-patterns/service-kit';
import type { LoginFlow } from '../login/login-flow';
import type { RedisSessionStore } from '../session/redis-session-store';
import { publicSessionId } from '../session/session-record';
import { Credentials, LoginBody, LoginRequest, Me, User } from './auth-schemas';

export interface AuthRoutesOptions {
  store: RedisSessionStore;
  login: LoginFlow;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Register, login, who am I, logout: the routes of one's own identity. */
const authRoutesPlugin: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, options) => {
  const { store, login } = options;
  const sessions = app.sessionAuth;

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
      const { username, password } = request.body;
      const user = await login.register(username, password, {
        ip: request.ip,
        waitedMs: reply.elapsedTime,
      });
      return reply.code(201).send(user);
    },
  );

  app.post(
    '/login',
    {
      schema: {
        tags: ['auth'],
        summary:
          'Log in: a new session, as a cookie or (with `token: true`) as a bearer token; any session the request presented is destroyed',
        body: LoginRequest,
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
    async (request, reply) => {
      const { username, password, token } = request.body;
      const presented = sessions.credential(request);
      const { user, sessionId, expiresAt } = await login.login({
        username,
        password,
        ip: request.ip,
        waitedMs: reply.elapsedTime,
        userAgent: request.headers['user-agent'] ?? '',
        presentedSessionId: presented.via === 'none' ? undefined : presented.sessionId,
      });
      const answer = { user, expiresAt: iso(expiresAt) };
      // A token is the session id itself, so no cookie goes with it.
      if (token === true) return { ...answer, token: sessionId };
      sessions.setCookie(reply, sessionId, expiresAt);
      return answer;
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: ['auth'],
        summary:
          'The logged-in user and session (other services verify a cookie or bearer token with it)',
        response: { 200: Me, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const { sessionId, record } = await sessions.authenticate(request, reply);
      return {
        user: { id: record.userId, username: record.username },
        session: {
          id: publicSessionId(sessionId),
          createdAt: iso(record.createdAt),
          lastSeenAt: iso(record.lastSeenAt),
          expiresAt: iso(record.expiresAt),
        },
      };
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'End this session (cookie or bearer token) on every replica',
        response: { 204: { type: 'null' }, 403: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const credential = sessions.credential(request);
      // Read first, as every authenticated route does: a store that cannot answer is a 503
      // before anything is written, and only a live session costs an acknowledged delete.
      if (credential.via !== 'none' && credential.sessionId !== undefined) {
        if (await store.load(credential.sessionId)) await store.remove(credential.sessionId);
      }
      if (credential.via !== 'bearer') sessions.clearCookie(reply);
      return reply.code(204).send();
    },
  );
};

export const authRoutes = fp(authRoutesPlugin, {
  name: 'auth-session-auth-routes',
  fastify: '5.x',
  dependencies: ['auth-session-session-cookie'],
});
