import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { ErrorBody } from '@redis-patterns/service-kit';
import { HOLDS_PLUGIN } from '../holds/holds-plugin';
import { TestHookHeaders } from './inventory-schemas';
import { Hold, HoldBody, HoldParams } from './order-schemas';

export interface OrderRoutesOptions {
  /** Honour `x-test-pause-ms` and `x-test-work-ms`. */
  testHooks: boolean;
}

/** Holds per orderId: hold (all lines or none), confirm, cancel, read. */
const orderRoutesPlugin: FastifyPluginAsyncTypebox<OrderRoutesOptions> = async (
  app,
  { testHooks },
) => {
  const holds = app.holds;

  app.post(
    '/orders/:orderId/hold',
    {
      schema: {
        tags: ['orders'],
        summary:
          'Hold every line for a TTL, or none (409 INSUFFICIENT_STOCK names the short line); idempotent per orderId',
        params: HoldParams,
        body: HoldBody,
        headers: TestHookHeaders,
        response: {
          200: Hold,
          201: Hold,
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { 'x-test-pause-ms': pauseMs, 'x-test-work-ms': workMs } = request.headers;
      const outcome = await holds.hold({
        orderId: request.params.orderId,
        lines: request.body.lines,
        ttlMs: request.body.ttlMs,
        pauseMs: testHooks ? pauseMs : undefined,
        workMs: testHooks ? workMs : undefined,
      });
      return reply.code(outcome.created ? 201 : 200).send(outcome.hold);
    },
  );

  app.post(
    '/orders/:orderId/confirm',
    {
      schema: {
        tags: ['orders'],
        summary:
          'Make a hold final (a repeat answers the same); 409 HOLD_EXPIRED or HOLD_CANCELLED when too late',
        params: HoldParams,
        response: { 200: Hold, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => holds.confirm(request.params.orderId),
  );

  app.post(
    '/orders/:orderId/cancel',
    {
      schema: {
        tags: ['orders'],
        summary:
          'Return a hold’s stock, once (a repeat or an expired hold answers as it is); 409 HOLD_CONFIRMED',
        params: HoldParams,
        response: { 200: Hold, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => holds.cancel(request.params.orderId),
  );

  app.get(
    '/orders/:orderId',
    {
      schema: {
        tags: ['orders'],
        summary: 'A hold as it is now',
        params: HoldParams,
        response: { 200: Hold, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => holds.get(request.params.orderId),
  );
};

export const orderRoutes = fp(orderRoutesPlugin, {
  name: 'inventory-lock-order-routes',
  fastify: '5.x',
  dependencies: [HOLDS_PLUGIN],
});
