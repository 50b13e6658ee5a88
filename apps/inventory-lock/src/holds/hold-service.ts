import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError } from '@redis-patterns/service-kit';
import type { Counter } from 'prom-client';
import type { Strategy } from '../config';
import {
  resultOf,
  type InventoryService,
  type ReservationResult,
} from '../inventory/inventory-service';
import type { Item } from '../inventory/inventory-store';
import { MAX_STOCK } from '../inventory/inventory-store';
import type { FencedLock } from '../lock/fenced-lock';
import { holdTtl, linesKey, sortedLines, type HoldLine } from './hold-lines';
import type { Hold, HoldStore, Settlement, StoredHold } from './hold-store';

/** The same outcomes as a reservation's (one metric vocabulary for both). */
export type HoldResult = ReservationResult;

export interface HoldMetrics {
  holds: Counter<'result'>;
  /** Holds that left `held`, by the state they reached. */
  settled: Counter<'status'>;
}

export interface HoldSettings {
  /** TTL of a hold that names none (`HoldConfig.defaultTtlMs`). */
  defaultTtlMs: number;
  /** The longest TTL a hold may ask for (`HoldConfig.maxTtlMs`). */
  maxTtlMs: number;
}

export interface HoldRequest {
  orderId: string;
  lines: HoldLine[];
  ttlMs?: number;
  /** Test hook: stall this long between the read and the write, lease extension stopped. */
  pauseMs?: number;
  /** Test hook: a slow call-out between the read and the write; the leases keep being extended. */
  workMs?: number;
}

/** 201 for a new hold, 200 for a repeat of the orderId (with the hold as it is now). */
export interface HoldOutcome {
  created: boolean;
  hold: Hold;
}

const holdNotFound = (orderId: string) =>
  new DomainError(404, 'HOLD_NOT_FOUND', `No hold for order ${orderId}`);

/** The public view of a stored hold (without the canonical lines key). */
function publicHold(hold: Hold): Hold {
  const { orderId, status, lines, expiresAt, createdAt, settledAt } = hold;
  return { orderId, status, lines, expiresAt, createdAt, settledAt };
}

/**
 * Holds of one or more lines for a TTL: all lines or none, each sku's stock taken under its lock
 * (taken in sku order) and checked against its fencing token. Confirm, cancel and expiry need no
 * lock: each is one conditional update in PostgreSQL that only a held hold passes, so exactly one
 * of them happens, whichever replica runs it.
 */
export class HoldService {
  constructor(
    private readonly store: HoldStore,
    private readonly inventory: InventoryService,
    private readonly lock: FencedLock | undefined,
    private readonly strategy: Strategy,
    private readonly settings: HoldSettings,
    private readonly clock: () => number,
    private readonly metrics: HoldMetrics,
  ) {}

  async hold(request: HoldRequest): Promise<HoldOutcome> {
    try {
      const outcome = await this.holdOnce(request);
      this.metrics.holds.inc({ result: outcome.created ? 'created' : 'repeated' });
      return outcome;
    } catch (error) {
      this.metrics.holds.inc({ result: resultOf(error) });
      throw error;
    }
  }

  /** The hold as it is now (a held hold past its expiry is expired here, once). */
  async get(orderId: string): Promise<Hold> {
    const hold = await this.current(orderId);
    if (!hold) throw holdNotFound(orderId);
    return publicHold(hold);
  }

  /** Makes the hold final: 409 `HOLD_EXPIRED` or `HOLD_CANCELLED` when it is too late. */
  async confirm(orderId: string): Promise<Hold> {
    const hold = await this.settle(orderId, 'confirmed');
    if (hold.status === 'expired') throw tooLate(orderId, 'expired', 'confirmed');
    if (hold.status === 'cancelled') throw tooLate(orderId, 'cancelled', 'confirmed');
    return hold;
  }

  /** Returns the stock (an expired hold already did: answered as is); 409 once confirmed. */
  async cancel(orderId: string): Promise<Hold> {
    const hold = await this.settle(orderId, 'cancelled');
    if (hold.status === 'confirmed') throw tooLate(orderId, 'confirmed', 'cancelled');
    return hold;
  }

  /** Expires one hold if it is due; true when this call returned its stock. */
  async expire(orderId: string): Promise<boolean> {
    const outcome = await this.store.settle(orderId, 'expired', new Date(this.clock()));
    if (outcome.kind !== 'changed') return false;
    this.metrics.settled.inc({ status: outcome.hold.status });
    return true;
  }

  private async settle(orderId: string, to: Settlement): Promise<Hold> {
    const outcome = await this.store.settle(orderId, to, new Date(this.clock()));
    switch (outcome.kind) {
      case 'not-found':
        throw holdNotFound(orderId);
      case 'over-limit':
        throw new DomainError(
          409,
          'STOCK_LIMIT_EXCEEDED',
          `Returning order ${orderId} would take the stock of ${outcome.sku} past ${MAX_STOCK}; nothing was written`,
        );
      case 'changed':
        this.metrics.settled.inc({ status: outcome.hold.status });
        return publicHold(outcome.hold);
      case 'unchanged':
        return publicHold(outcome.hold);
    }
  }

  private async current(orderId: string): Promise<StoredHold | undefined> {
    const hold = await this.store.getHold(orderId);
    if (!hold || hold.status !== 'held' || Date.parse(hold.expiresAt) > this.clock()) return hold;
    await this.expire(orderId);
    return this.store.getHold(orderId);
  }

  private async holdOnce(request: HoldRequest): Promise<HoldOutcome> {
    const sorted = sortedLines(request.lines);
    const key = linesKey(request.lines);
    const ttlMs = holdTtl(request.ttlMs, this.settings);
    const first = await this.repeatOf(request.orderId, key);
    if (first) return first;
    if (this.strategy !== 'redlock') return this.write(request, key, ttlMs, null);
    const lock = this.lock;
    if (!lock) throw new Error('the redlock strategy needs a lock');
    const skus = sorted.map((line) => line.sku);
    // Sorted skus, in this replica's queues and then in Redlock: one global order, no deadlock.
    return this.inventory.local.runAll(skus, async () => {
      const queued = await this.repeatOf(request.orderId, key);
      if (queued) return queued;
      // A snapshot answer needs no lock: a line was short at the moment of this read.
      checkLines(request.lines, await this.store.items(skus));
      return lock.runAll(
        skus,
        skus.map((sku) => this.inventory.floorOf(sku)),
        async (leases) => {
          // No repeat check here: a hold of this orderId written meanwhile makes the write a
          // `duplicate` (rolled back), answered as a repeat.
          const claimed = await Promise.all(
            skus.map((sku, i) => this.inventory.claim(leases[i], sku, 'The hold')),
          );
          checkLines(request.lines, new Map(claimed.map((item) => [item.sku, item])));
          if (request.workMs) await sleep(request.workMs);
          if (request.pauseMs) {
            for (const lease of leases) lease.freeze();
            await sleep(request.pauseMs);
          }
          const tokens = new Map(skus.map((sku, i) => [sku, leases[i].token]));
          return this.write(request, key, ttlMs, tokens);
        },
      );
    });
  }

  private async write(
    request: HoldRequest,
    key: string,
    ttlMs: number,
    tokens: Map<string, number> | null,
  ): Promise<HoldOutcome> {
    const now = this.clock();
    const outcome = await this.store.writeHold({
      orderId: request.orderId,
      lines: request.lines,
      linesKey: key,
      tokens,
      now: new Date(now),
      expiresAt: new Date(now + ttlMs),
    });
    switch (outcome.kind) {
      case 'created':
        return { created: true, hold: publicHold(outcome.hold) };
      case 'fenced':
        throw this.inventory.rejected(outcome.sku, tokens?.get(outcome.sku) ?? 0, 'The hold');
      case 'not-found':
      case 'short': {
        // Found under the row locks (the lock-free strategies have no earlier check): answered
        // with what the transaction saw for that sku, so the refusal names it.
        const items = await this.store.items(request.lines.map((l) => l.sku));
        if (outcome.kind === 'short') {
          items.set(outcome.sku, { sku: outcome.sku, stock: outcome.stock, fence: 0 });
        } else items.delete(outcome.sku);
        checkLines(request.lines, items);
        throw new Error(`hold ${request.orderId}: ${outcome.sku} refused but not found short`);
      }
      case 'duplicate': {
        const repeated = await this.repeatOf(request.orderId, key);
        if (!repeated) throw new Error(`hold ${request.orderId} vanished`);
        return repeated;
      }
    }
  }

  /** The hold of this orderId as it is now, if any; 409 when it holds other lines. */
  private async repeatOf(orderId: string, key: string): Promise<HoldOutcome | undefined> {
    const existing = await this.current(orderId);
    if (!existing) return undefined;
    if (existing.linesKey !== key) {
      throw new DomainError(
        409,
        'ORDER_ID_CONFLICT',
        `Order ${orderId} already holds other lines (${existing.linesKey})`,
      );
    }
    return { created: false, hold: publicHold(existing) };
  }
}

/**
 * 404 naming the first line whose sku does not exist, 409 `INSUFFICIENT_STOCK` naming the first
 * line (in the client's order) whose sku has too little: all or nothing, nothing was held.
 */
function checkLines(lines: readonly HoldLine[], items: Map<string, Item>): void {
  lines.forEach((line, index) => {
    const item = items.get(line.sku);
    if (!item) {
      throw new DomainError(
        404,
        'SKU_NOT_FOUND',
        `Line ${index} (${line.sku}): no inventory for ${line.sku}; nothing was held`,
      );
    }
  });
  lines.forEach((line, index) => {
    const stock = items.get(line.sku)?.stock ?? 0;
    if (stock < line.quantity) {
      throw new DomainError(
        409,
        'INSUFFICIENT_STOCK',
        `Line ${index} (${line.sku}) is short: only ${stock} left, ${line.quantity} requested; nothing was held`,
      );
    }
  });
}

function tooLate(orderId: string, status: 'expired' | 'cancelled' | 'confirmed', asked: string) {
  return new DomainError(
    409,
    `HOLD_${status.toUpperCase()}`,
    `Order ${orderId} was ${status}; it cannot be ${asked} now`,
  );
}
