import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { DomainError, ErrorBody } from '@redis-patterns/service-kit';
import { INVENTORY_PLUGIN } from '../inventory/inventory-plugin';
import {
  Item,
  OrderParams,
  Reservation,
  ReserveBody,
  SkuParams,
  StockBody,
  TestHookHeaders,
} from './inventory-schemas';

export interface InventoryRoutesOptions {
  /** Honour `x-test-pause-ms` and `x-test-work-ms`. */
  testHooks: boolean;
}

/** The inventory API: stock per sku, reservations per orderId. */
const inventoryRoutesPlugin: FastifyPluginAsyncTypebox<InventoryRoutesOptions> = async (
  app,
  { testHooks },
) => {
  const service = app.inventory;

  app.put(
    '/inventory/:sku',
    {
      schema: {
        tags: ['inventory'],
        summary:
          'Set (or restock) the stock of a sku, under its lock; 409 STOCK_LIMIT_EXCEEDED when it plus the open reservations would pass 10^9',
        params: SkuParams,
        body: StockBody,
        response: { 200: Item, 400: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      await service.setStock(request.params.sku, request.body.stock);
      return { sku: request.params.sku, stock: request.body.stock };
    },
  );

  app.get(
    '/inventory/:sku',
    {
      schema: {
        tags: ['inventory'],
        summary: 'The stock of a sku',
        params: SkuParams,
        response: { 200: Item, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const item = await service.getItem(request.params.sku);
      if (!item)
        throw new DomainError(404, 'SKU_NOT_FOUND', `No inventory for ${request.params.sku}`);
      return { sku: item.sku, stock: item.stock };
    },
  );

  app.post(
    '/inventory/:sku/reservations',
    {
      schema: {
        tags: ['inventory'],
        summary: 'Reserve stock; idempotent per orderId (a repeat answers the first outcome, 200)',
        params: SkuParams,
        body: ReserveBody,
        headers: TestHookHeaders,
        response: {
          200: Reservation,
          201: Reservation,
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { 'x-test-pause-ms': pauseMs, 'x-test-work-ms': workMs } = request.headers;
      const outcome = await service.reserve({
        sku: request.params.sku,
        orderId: request.body.orderId,
        quantity: request.body.quantity,
        pauseMs: testHooks ? pauseMs : undefined,
        workMs: testHooks ? workMs : undefined,
      });
      return reply.code(outcome.created ? 201 : 200).send(outcome.reservation);
    },
  );

  app.get(
    '/reservations/:orderId',
    {
      schema: {
        tags: ['inventory'],
        summary: 'A reservation',
        params: OrderParams,
        response: { 200: Reservation, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const reservation = await service.getReservation(request.params.orderId);
      if (!reservation) throw reservationNotFound(request.params.orderId);
      return reservation;
    },
  );

  app.delete(
    '/reservations/:orderId',
    {
      schema: {
        tags: ['inventory'],
        summary: 'Cancel a reservation: its quantity goes back to the stock, once',
        params: OrderParams,
        response: {
          204: { type: 'null' },
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      if (!(await service.release(request.params.orderId))) {
        throw reservationNotFound(request.params.orderId);
      }
      return reply.code(204).send();
    },
  );
};

export const inventoryRoutes = fp(inventoryRoutesPlugin, {
  name: 'inventory-lock-inventory-routes',
  fastify: '5.x',
  dependencies: [INVENTORY_PLUGIN],
});

function reservationNotFound(orderId: string): DomainError {
  return new DomainError(404, 'RESERVATION_NOT_FOUND', `No reservation ${orderId}`);
}
