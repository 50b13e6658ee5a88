import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config';
import { LOCK_PLUGIN } from '../lock/lock-plugin';
import { InventoryService } from './inventory-service';
import { InventoryStore } from './inventory-store';

declare module 'fastify' {
  interface FastifyInstance {
    /** Stock and reservations, under the fenced lock (or the configured strategy). */
    inventory: InventoryService;
  }
}

export const INVENTORY_PLUGIN = 'inventory-lock-inventory';

/** Decorates `inventory`: the stock in PostgreSQL, written under the strategy of the config. */
async function inventoryPlugin(
  app: FastifyInstance,
  { config }: { config: AppConfig },
): Promise<void> {
  const service = new InventoryService(
    new InventoryStore(app.pg),
    app.fencedLock ?? undefined,
    config.strategy,
    {
      reservations: app.prom.counter({
        name: 'reservations_total',
        help: 'Reservation requests by result (created, repeated, insufficient, not_found, conflict, lock_failed, fenced, error)',
        labelNames: ['result'],
      }),
      fencingRejections: app.prom.counter({
        name: 'fencing_rejections_total',
        help: 'Writes PostgreSQL refused because a later lock holder had stamped the row',
      }),
    },
    app.log,
  );
  app.decorate('inventory', service);
}

export default fp(inventoryPlugin, {
  name: INVENTORY_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/postgres', '@redis-patterns/metrics', LOCK_PLUGIN],
});
