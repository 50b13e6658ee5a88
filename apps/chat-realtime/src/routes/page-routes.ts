import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { CHAT_PLUGIN } from '../chat/chat-server';

/**
 * `GET /`: the chat page. Plain HTML and JavaScript with relative URLs only, so it works on the
 * service's own port and under the gateway's `/chat` prefix alike.
 */
const pageRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const page = readFileSync(join(__dirname, '..', 'public', 'index.html'), 'utf8');
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header(
        'content-security-policy',
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:",
      )
      .send(page),
  );
};

/** Depends on the chat: the page is only useful with the Socket.IO server it talks to. */
export const pageRoutes = fp(pageRoutesPlugin, {
  name: 'chat-realtime-page-routes',
  fastify: '5.x',
  dependencies: [CHAT_PLUGIN],
});
