import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import type { FastifyBaseLogger } from 'fastify';
import type { Counter } from 'prom-client';
import type { Strategy } from '../config';
import type { FencedLock, Lease } from '../lock/fenced-lock';
import { KeyedMutex } from '../lock/keyed-mutex';
import type { InventoryStore, Reservation } from './inventory-store';

export type ReservationResult =
  | 'created'
  | 'repeated'
  | 'insufficient'
  | 'not_found'
  | 'conflict'
  | 'lock_failed'
  | 'fenced'
  | 'error';

export interface InventoryMetrics {
  reservations: Counter<'result'>;
  fencingRejections: Counter;
}

export interface ReserveRequest {
  sku: string;
  orderId: string;
  quantity: number;
  /** Test hook: stall this long between the read and the write, lease extension stopped. */
  pauseMs?: number;
  /** Test hook: a slow call-out between the read and the write; the lease keeps being extended. */
  workMs?: number;
}

/** 201 for a new reservation, 200 for the first outcome of a repeated orderId. */
export interface ReserveOutcome {
  created: boolean;
  reservation: Reservation;
}

const insufficient = (sku: string, stock: number, quantity: number) =>
  new DomainError(409, 'INSUFFICIENT_STOCK', `Only ${stock} of ${sku} left, ${quantity} requested`);
const skuNotFound = (sku: string) =>
  new DomainError(404, 'SKU_NOT_FOUND', `No inventory for ${sku}`);
const fencedOut = (what: string) =>
  unavailable(
    'FENCING_TOKEN_STALE',
    `${what} was refused: a later lock holder owns the stock now; nothing was written`,
    1,
  );

/**
 * Stock and reservations under the configured strategy. With `redlock`, every change of a sku's
 * stock is a read-check-write inside the sku's lock, stamped and checked with the lock's fencing
 * token in PostgreSQL.
 */
export class InventoryService {
  private readonly local = new KeyedMutex();

  constructor(
    private readonly store: InventoryStore,
    private readonly lock: FencedLock | undefined,
    private readonly strategy: Strategy,
    private readonly metrics: InventoryMetrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  getItem(sku: string) {
    return this.store.getItem(sku);
  }

  getReservation(orderId: string) {
    return this.store.getReservation(orderId);
  }

  /** Sets the stock of `sku` (creating it), under its lock with `redlock`. */
  async setStock(sku: string, stock: number): Promise<void> {
    if (this.strategy !== 'redlock') {
      await this.store.setStock(sku, stock, null);
      return;
    }
    await this.locked(sku, (lease) =>
      this.fenced(lease, sku, 'Setting the stock', async (token) =>
        (await this.store.setStock(sku, stock, token)) ? true : undefined,
      ),
    );
  }

  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    try {
      const outcome = await this.reserveOnce(request);
      this.metrics.reservations.inc({ result: outcome.created ? 'created' : 'repeated' });
      return outcome;
    } catch (error) {
      this.metrics.reservations.inc({ result: resultOf(error) });
      throw error;
    }
  }

  /** Puts a reservation's quantity back, once; false when the orderId is unknown. */
  async release(orderId: string): Promise<boolean> {
    const reservation = await this.store.getReservation(orderId);
    if (!reservation) return false;
    if (reservation.status === 'released') return true;
    if (this.strategy !== 'redlock') {
      await this.store.releaseReservation(orderId, null);
      return true;
    }
    await this.locked(reservation.sku, async (lease) => {
      await this.fenced(lease, reservation.sku, 'Releasing the reservation', (token) =>
        this.store.claim(reservation.sku, token),
      );
      const outcome = await this.store.releaseReservation(orderId, lease.token);
      if (outcome === 'fenced')
        throw this.rejected(reservation.sku, lease.token, 'Releasing the reservation');
    });
    return true;
  }

  private async reserveOnce(request: ReserveRequest): Promise<ReserveOutcome> {
    if (this.strategy === 'atomic-sql') {
      return (await this.repeatOf(request)) ?? this.reserveAtomically(request);
    }
    // Each replica queues its own requests per sku, so these checks run when it is this
    // request's turn: once the stock is gone the queue drains without touching the lock.
    return this.local.run(request.sku, async () => {
      const first = await this.repeatOf(request);
      if (first) return first;
      // A snapshot answer needs no lock: the stock was too low at the moment of this read.
      await this.requireStock(request);
      if (this.strategy === 'unsafe-no-lock') return this.readCheckWrite(request, undefined);
      const lock = this.requireLock();
      return lock.run(request.sku, (lease) => this.readCheckWrite(request, lease));
    });
  }

  private async requireStock({ sku, quantity }: ReserveRequest): Promise<void> {
    const item = await this.store.getItem(sku);
    if (!item) throw skuNotFound(sku);
    if (item.stock < quantity) throw insufficient(sku, item.stock, quantity);
  }

  /** The critical section: read the stock, check it, (maybe stall), write it. */
  private async readCheckWrite(
    request: ReserveRequest,
    lease: Lease | undefined,
  ): Promise<ReserveOutcome> {
    const { sku, orderId, quantity } = request;
    const first = await this.repeatOf(request);
    if (first) return first;
    const item = lease
      ? await this.fenced(lease, sku, 'The reservation', (token) => this.store.claim(sku, token))
      : await this.store.getItem(sku);
    if (!item) throw skuNotFound(sku);
    if (item.stock < quantity) throw insufficient(sku, item.stock, quantity);
    if (request.workMs) await sleep(request.workMs);
    if (request.pauseMs) {
      lease?.freeze();
      await sleep(request.pauseMs);
    }
    const token = lease ? lease.token : null;
    const outcome = await this.store.writeReservation(
      orderId,
      sku,
      quantity,
      item.stock - quantity,
      token,
    );
    if (outcome.kind === 'created') return { created: true, reservation: outcome.reservation };
    if (outcome.kind === 'fenced') throw this.rejected(sku, token ?? 0, 'The reservation');
    const repeated = await this.repeatOf(request);
    if (!repeated) throw new Error(`reservation ${orderId} vanished`);
    return repeated;
  }

  private async reserveAtomically(request: ReserveRequest): Promise<ReserveOutcome> {
    const { sku, orderId, quantity } = request;
    const outcome = await this.store.reserveAtomically(orderId, sku, quantity);
    switch (outcome.kind) {
      case 'created':
        return { created: true, reservation: outcome.reservation };
      case 'not-found':
        throw skuNotFound(sku);
      case 'insufficient': {
        const item = await this.store.getItem(sku);
        throw insufficient(sku, item?.stock ?? 0, quantity);
      }
      case 'duplicate': {
        const repeated = await this.repeatOf(request);
        if (!repeated) throw new Error(`reservation ${orderId} vanished`);
        return repeated;
      }
    }
  }

  /** The first outcome of this orderId, if any; 409 when it was used for something else. */
  private async repeatOf(request: ReserveRequest): Promise<ReserveOutcome | undefined> {
    const existing = await this.store.getReservation(request.orderId);
    if (!existing) return undefined;
    if (existing.sku !== request.sku || existing.quantity !== request.quantity) {
      throw new DomainError(
        409,
        'ORDER_ID_CONFLICT',
        `Order ${request.orderId} already reserved ${existing.quantity} of ${existing.sku}`,
      );
    }
    return { created: false, reservation: existing };
  }

  /** One contender per sku per replica goes to Redlock; the others queue here. */
  private locked<T>(sku: string, section: (lease: Lease) => Promise<T>): Promise<T> {
    const lock = this.requireLock();
    return this.local.run(sku, () => lock.run(sku, section));
  }

  private requireLock(): FencedLock {
    if (!this.lock) throw new Error('the redlock strategy needs a lock');
    return this.lock;
  }

  /**
   * Runs a fenced statement. When PostgreSQL refuses the token although the lease is still
   * valid, the masters' counters fell behind the database (a master restarted empty): raise them
   * above the row's fence and try once more. A holder whose lease ran out is refused for good.
   */
  private async fenced<T>(
    lease: Lease,
    sku: string,
    what: string,
    statement: (token: number) => Promise<T | undefined>,
  ): Promise<T> {
    const first = await statement(lease.token);
    if (first !== undefined) return first;
    const item = await this.store.getItem(sku);
    if (!item) throw skuNotFound(sku);
    if (!lease.isValid()) throw this.rejected(sku, lease.token, what);
    const token = await lease.reissue(item.fence);
    const second = await statement(token);
    if (second !== undefined) return second;
    throw this.rejected(sku, token, what);
  }

  private rejected(sku: string, token: number, what: string): DomainError {
    this.metrics.fencingRejections.inc();
    this.log.warn({ sku, token }, `fencing token refused by PostgreSQL (${what}); nothing written`);
    return fencedOut(what);
  }
}

function resultOf(error: unknown): ReservationResult {
  if (!(error instanceof DomainError)) return 'error';
  switch (error.code) {
    case 'INSUFFICIENT_STOCK':
      return 'insufficient';
    case 'SKU_NOT_FOUND':
      return 'not_found';
    case 'ORDER_ID_CONFLICT':
      return 'conflict';
    case 'FENCING_TOKEN_STALE':
      return 'fenced';
    case 'LOCK_NOT_ACQUIRED':
      return 'lock_failed';
    default:
      return 'error';
  }
}
