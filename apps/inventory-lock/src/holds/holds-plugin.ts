import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config';
import { INVENTORY_PLUGIN } from '../inventory/inventory-plugin';
import { HoldService } from './hold-service';
import { HoldStore } from './hold-store';
import { HoldSweeper } from './hold-sweeper';

declare module 'fastify' {
  interface FastifyInstance {
    /** Holds per orderId: hold, confirm, cancel, read. */
    holds: HoldService;
    /** This replica's expiry sweep; tests call `sweep()` to run one now. */
    holdSweeper: HoldSweeper;
  }
}

export const HOLDS_PLUGIN = 'inventory-lock-holds';

/** Decorates `holds` and `holdSweeper`; every replica sweeps from its start to its close. */
async function holdsPlugin(app: FastifyInstance, { config }: { config: AppConfig }): Promise<void> {
  const clock = config.clock ?? Date.now;
  const store = new HoldStore(app.pg);
  const holds = new HoldService(
    store,
    app.inventory,
    app.fencedLock ?? undefined,
    config.strategy,
    config.holds,
    clock,
    {
      holds: app.prom.counter({
        name: 'holds_total',
        help: 'Hold requests by result (created, repeated, insufficient, not_found, conflict, lock_failed, fenced, error)',
        labelNames: ['result'],
      }),
      settled: app.prom.counter({
        name: 'holds_settled_total',
        help: 'Holds that left held, by the state this replica moved them to (confirmed, cancelled, expired)',
        labelNames: ['status'],
      }),
    },
  );
  const sweeper = new HoldSweeper(store, holds, clock, config.holds.sweepIntervalMs, app.log);
  app.decorate('holds', holds);
  app.decorate('holdSweeper', sweeper);
  app.addHook('onReady', async () => sweeper.start());
  // A sweep cut short by the pool ending is only logged: its holds stay due for the next one.
  app.addHook('onClose', async () => sweeper.stop());
}

export default fp(holdsPlugin, {
  name: HOLDS_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/postgres', '@redis-patterns/metrics', INVENTORY_PLUGIN],
});
