import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { DomainError } from '@redis-patterns/service-kit';
import { forwardedChain } from './forwarded-headers';
import { InvalidPathError, normalizePath, splitTarget } from './path-normalization';

declare module 'fastify' {
  interface FastifyRequest {
    /** The normalised path (see `normalizePath`): what routes, limits and the upstream see. */
    gatewayPath: string;
    /** The query string as sent, with its `?` (or empty). */
    gatewayQuery: string;
    /** The validated incoming `X-Forwarded-For` entries. */
    forwardedFor: string[];
  }
}

/**
 * Runs first on every request: normalises the path once (so the limiter and the proxy can
 * never disagree about which route a request is) and refuses an `X-Forwarded-For` that holds
 * anything but addresses, before Fastify's `request.ip` could believe it.
 */
async function gatewayRequestPlugin(app: FastifyInstance): Promise<void> {
  app.decorateRequest('gatewayPath', '');
  app.decorateRequest('gatewayQuery', '');
  app.decorateRequest('forwardedFor', null as unknown as string[]);
  app.addHook('onRequest', async (request) => {
    const chain = forwardedChain(request.headers['x-forwarded-for']);
    if (!chain) {
      throw new DomainError(
        400,
        'INVALID_FORWARDED_FOR',
        'x-forwarded-for must be a comma list of IP addresses',
      );
    }
    request.forwardedFor = chain;
    const { path, query } = splitTarget(request.url);
    try {
      request.gatewayPath = normalizePath(path);
    } catch (error) {
      if (!(error instanceof InvalidPathError)) throw error;
      throw new DomainError(400, 'INVALID_PATH', `The request path is invalid: ${error.message}`);
    }
    request.gatewayQuery = query;
  });
}

export const GATEWAY_REQUEST_PLUGIN = 'gateway-ratelimit-gateway-request';

export default fp(gatewayRequestPlugin, {
  name: GATEWAY_REQUEST_PLUGIN,
  fastify: '5.x',
});
