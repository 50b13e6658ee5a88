import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { DomainError, ErrorBody } from '@redis-patterns/service-kit';
import type { RedisSessionStore } from '../session/redis-session-store';
import { publicSessionId } from '../session/session-record';
import { Revoked, SessionList, SessionParams } from './session-schemas';

export interface SessionRoutesOptions {
  store: RedisSessionStore;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The caller's sessions: list, revoke one, revoke all the others (log out other devices). */
const sessionRoutesPlugin: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async (
  app,
  { store },
) => {
  const auth = app.sessionAuth;

  app.get(
    '/sessions',
    {
      schema: {
        tags: ['auth'],
        summary: "The caller's active sessions",
        response: { 200: SessionList, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const current = await auth.authenticate(request, reply);
      const sessions = await store.listForUser(current.record.userId);
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
      const current = await auth.authenticate(request, reply);
      const target = (await store.listForUser(current.record.userId)).find(
        ({ sessionId }) => publicSessionId(sessionId) === request.params.id,
      );
      // Another user's session id is indistinguishable from a made-up one.
      if (!target) throw new DomainError(404, 'SESSION_NOT_FOUND', 'No such session');
      await store.remove(target.sessionId);
      if (target.sessionId === current.sessionId && current.via === 'cookie') {
        auth.clearCookie(reply);
      }
      return reply.code(204).send();
    },
  );

  app.delete(
    '/sessions',
    {
      schema: {
        tags: ['auth'],
        summary:
          "Revoke all the caller's other sessions, cookies and bearer tokens alike (log out other devices)",
        response: { 200: Revoked, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const current = await auth.authenticate(request, reply);
      const others = (await store.listForUser(current.record.userId)).filter(
        ({ sessionId }) => sessionId !== current.sessionId,
      );
      await Promise.all(others.map(({ sessionId }) => store.remove(sessionId)));
      return { revoked: others.length };
    },
  );
};

export const sessionRoutes = fp(sessionRoutesPlugin, {
  name: 'auth-session-session-routes',
  fastify: '5.x',
  dependencies: ['auth-session-session-cookie'],
});
