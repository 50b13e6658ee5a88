// inventory-lock's share of the mixed load: reservations of one unit on four skus with a large
// stock. Afterwards every acknowledged reservation must exist, and each sku's stock must be the
// initial one minus the reservations that exist (no oversell, no lost update).
import { randomUUID } from 'node:crypto';
import { expectStatus, type Op } from './load-events';
import type { Workload, WorkloadContext } from './workload';

export interface InventoryVerification {
  reservationsAcked: number;
  reservationsLost: number;
  /** Stock that differs from initial - every reservation that exists (oversell or lost update). */
  stockMismatch: number;
}

const INITIAL_STOCK = 1_000_000;
const SKUS = 4;

export class InventoryWorkload implements Workload<InventoryVerification> {
  readonly ops: readonly Op[] = ['inventory.reserve'];
  private readonly skus: string[];
  private readonly reservations = new Map<string, { sku: string; acked: boolean }>();

  constructor(private readonly context: WorkloadContext) {
    this.skus = Array.from({ length: SKUS }, (_, i) => `drill-${context.tag}-${i}`);
  }

  async setup(): Promise<void> {
    for (const sku of this.skus) {
      expectStatus(
        await this.context.client.put(`/api/inventory/${sku}`, { stock: INITIAL_STOCK }),
        200,
        'stock',
      );
    }
  }

  async step(op: Op, turn: number): Promise<void> {
    const at = Date.now();
    const sku = this.skus[turn % this.skus.length];
    const orderId = `o-${randomUUID()}`;
    this.reservations.set(orderId, { sku, acked: false });
    const reply = await this.context.client.post(
      `/api/inventory/${sku}/reservations`,
      { orderId, quantity: 1 },
      { timeoutMs: this.context.timeoutMs },
    );
    if (this.context.events.record(op, at, reply, [201]))
      this.reservations.set(orderId, { sku, acked: true });
  }

  async verify(): Promise<InventoryVerification> {
    const { client } = this.context;
    let reservationsLost = 0;
    const existing = new Map<string, number>();
    for (const [orderId, { sku, acked }] of this.reservations) {
      const reply = await client.get(`/api/reservations/${orderId}`);
      if (reply.status === 200) existing.set(sku, (existing.get(sku) ?? 0) + 1);
      else if (acked) reservationsLost += 1;
    }
    let stockMismatch = 0;
    for (const sku of this.skus) {
      const reply = await client.get<{ stock?: number }>(`/api/inventory/${sku}`);
      if (reply.body.stock !== INITIAL_STOCK - (existing.get(sku) ?? 0)) stockMismatch += 1;
    }
    return {
      reservationsAcked: [...this.reservations.values()].filter((r) => r.acked).length,
      reservationsLost,
      stockMismatch,
    };
  }
}
