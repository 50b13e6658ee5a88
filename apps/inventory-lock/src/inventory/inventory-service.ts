import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import type { FastifyBaseLogger } from 'fastify';
import type { Counter } from 'prom-client';
import type { Strategy } from '../config';
import type { FencedLock, Lease } from '../lock/fenced-lock';
import { KeyedMutex } from '../lock/keyed-mutex';
import { MAX_STOCK, type InventoryStore, type Reservation } from './inventory-store';

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
const overLimit = (sku: string, what: string) =>
  new DomainError(
    409,
    'STOCK_LIMIT_EXCEEDED',
    `${what} would take the stock of ${sku} plus its open reservations past ${MAX_STOCK}; nothing was written`,
  );
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
  /** One queue per sku in this replica, shared with holds so both take skus in one order. */
  readonly local = new KeyedMutex();

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

  /**
   * Sets the stock of `sku` (creating it), under its lock with `redlock`. Refused (409
   * `STOCK_LIMIT_EXCEEDED`) when the stock plus the sku's open reservations would pass
   * `MAX_STOCK`, so that releasing them never can.
   */
  async setStock(sku: string, stock: number): Promise<void> {
    const outcome =
      this.strategy !== 'redlock'
        ? await this.store.setStock(sku, stock, null)
        : await this.locked(sku, (lease) =>
            this.fenced(lease, sku, 'Setting the stock', async (token) => {
              const result = await this.store.setStock(sku, stock, token);
              return result === 'fenced' ? undefined : result;
            }),
          );
    if (outcome === 'over-limit') throw overLimit(sku, `Setting the stock to ${stock}`);
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
    const what = 'Releasing the reservation';
    const outcome =
      this.strategy !== 'redlock'
        ? await this.store.releaseReservation(orderId, null)
        : await this.locked(reservation.sku, async (lease) => {
            await this.fenced(lease, reservation.sku, what, (token) =>
              this.store.claim(reservation.sku, token),
            );
            const released = await this.store.releaseReservation(orderId, lease.token);
            if (released === 'fenced') throw this.rejected(reservation.sku, lease.token, what);
            return released;
          });
    if (outcome === 'over-limit') throw overLimit(reservation.sku, what);
    return true;
  }

  private async reserveOnce(request: ReserveRequest): Promise<ReserveOutcome> {
    if (this.strategy === 'atomic-sql') {
      return (await this.repeatOf(request)) ?? this.reserveAtomically(request);
    }
    // Each replica queues its own requests per sku, so these checks run when it is this
    // request's turn: once the stock is gone the queue drains without touching the lock.
    return this.local.run(request.sku, async () => {
      // One read for both checks. A snapshot answer needs no lock: the orderId was used, or the
      // stock was too low at the moment of this read.
      const { reservation, item } = await this.store.getReservationAndItem(
        request.orderId,
        request.sku,
      );
      if (reservation) return this.repeated(request, reservation);
      if (!item) throw skuNotFound(request.sku);
      if (item.stock < request.quantity)
        throw insufficient(request.sku, item.stock, request.quantity);
      if (this.strategy === 'unsafe-no-lock') return this.readCheckWrite(request, undefined);
      const lock = this.requireLock();
      // Floor 0, not a read of the row's fence: the claim compares the token with that fence
      // anyway, and `fenced` reissues above it in the rare case it is higher (masters wiped).
      // The same guarantee, one PostgreSQL round trip fewer per reservation.
      return lock.run(request.sku, (lease) => this.readCheckWrite(request, lease), 0);
    });
  }

  /** The critical section: read the stock, check it, (maybe stall), write it. */
  private async readCheckWrite(
    request: ReserveRequest,
    lease: Lease | undefined,
  ): Promise<ReserveOutcome> {
    const { sku, orderId, quantity } = request;
    // No second orderId check here: a repeat that landed meanwhile makes the write below a
    // `duplicate` (rolled back) and is answered as the first outcome.
    const item = lease
      ? await this.fenced(lease, sku, 'The reservation', (token) => this.store.claim(sku, token))
      : await this.store.getItem(sku);
    if (!item) throw skuNotFound(sku);
    if (item.stock < quantity) {
      // The repeat may be what took the last units: then it is the answer.
      const repeated = await this.repeatOf(request);
      if (repeated) return repeated;
      throw insufficient(sku, item.stock, quantity);
    }
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
    return existing ? this.repeated(request, existing) : undefined;
  }

  private repeated(request: ReserveRequest, existing: Reservation): ReserveOutcome {
    if (existing.sku !== request.sku || existing.quantity !== request.quantity) {
      throw new DomainError(
        409,
        'ORDER_ID_CONFLICT',
        `Order ${request.orderId} already reserved ${existing.quantity} of ${existing.sku}`,
      );
    }
    return { created: false, reservation: existing };
  }

  /**
   * Stamps the sku row with the lease's token and reads its stock (the first half of a fenced
   * read-check-write), healing a counter that fell behind PostgreSQL; 404 when the sku is gone,
   * 503 `FENCING_TOKEN_STALE` when a later holder owns it.
   */
  async claim(lease: Lease, sku: string, what: string) {
    return this.fenced(lease, sku, what, (token) => this.store.claim(sku, token));
  }

  /** One contender per sku per replica goes to Redlock; the others queue here. */
  private locked<T>(sku: string, section: (lease: Lease) => Promise<T>): Promise<T> {
    const lock = this.requireLock();
    return this.local.run(sku, () => lock.run(sku, section, this.floorOf(sku)));
  }

  /**
   * The sku's fence in PostgreSQL, read once its lock is held: every token is issued above it,
   * so the masters' counters can be wiped without a token going backwards.
   */
  floorOf(sku: string): () => Promise<number> {
    return async () => (await this.store.getItem(sku))?.fence ?? 0;
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

  rejected(sku: string, token: number, what: string): DomainError {
    this.metrics.fencingRejections.inc();
    this.log.warn({ sku, token }, `fencing token refused by PostgreSQL (${what}); nothing written`);
    return fencedOut(what);
  }
}

/** The metric label of a failed reservation or hold: its domain error, or `error`. */
export function resultOf(error: unknown): ReservationResult {
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
