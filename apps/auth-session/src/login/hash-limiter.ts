/** Thrown when a hash cannot start within its bound: answer 503 with Retry-After at once. */
export class HashLimiterBusy extends Error {
  constructor() {
    super('password hashing is saturated');
    this.name = 'HashLimiterBusy';
  }
}

export interface HashLimiterOptions {
  /** Hashes running at once in this process. */
  concurrency: number;
  /** Callers that may wait for a slot; one more is refused at once. */
  queueLimit: number;
  /**
   * Longest wait for a slot, counted from the request's arrival. The wait is also bounded by the
   * measured hash times (see `maxWaitMs`), so an answered caller's wait + hash stays within
   * 1.5 idle hashes.
   */
  queueTimeoutMs: number;
}

interface Waiter {
  client: string;
  grant(): void;
  refuse(): void;
}

interface Running {
  started: number;
  /** Another hash ran beside it at some point: its duration is not an idle one. */
  overlapped: boolean;
}

/**
 * wait + hash of an answered caller, in idle hashes. 1.5, not 2: a login is more than its hash,
 * and a flood also delays the rest of it (parsing, Redis, the answer; see the figures of
 * test/login-flood.test.ts), so half a hash is left for that within 2 x the idle login.
 */
const WAIT_AND_HASH_BUDGET = 1.5;

/** Weight of the newest duration in the moving averages. */
const ALPHA = 0.2;
const average = (previous: number | undefined, sample: number) =>
  previous === undefined ? sample : (1 - ALPHA) * previous + ALPHA * sample;

/**
 * A small semaphore around password hashing (scrypt runs on libuv's 4-thread pool, ~32 MiB
 * each). A caller that finds no free slot is queued only if it is predicted to start within
 * `maxWaitMs` of its arrival, from the running hashes' ages and the measured hash time; any
 * other is refused at once, and a queued caller still waiting at that deadline is refused
 * then. So an answered caller waited at most `1.5 x idle hash - current hash` before its hash:
 * wait + hash <= 1.5 x an idle hash, by construction rather than by luck.
 *
 * Fairness: when a caller would be refused, queued callers of the client holding the most
 * places (running + queued), if it holds more than this caller's client would, are refused
 * instead, newest first, as long as that lets this caller in. So one flooding client keeps
 * the slots only while nobody else asks for one; with a single client nothing changes.
 */
export class HashLimiter {
  /** Slots held: by running hashes, and by callers granted one whose task starts next tick. */
  private held = 0;
  /** The running hashes, for their ages. */
  private readonly running = new Set<Running>();
  /** Places (running + queued) by client. */
  private readonly places = new Map<string, number>();
  /** Moving average of every hash's duration (under whatever load): predicts the queue. */
  private averageMs: number | undefined;
  /** Moving average of the hashes that ran alone: the idle hash time the bound derives from. */
  private idleMs: number | undefined;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly options: HashLimiterOptions) {}

  /**
   * Runs `task` when a slot is free. `waitedMs` is how long the caller has already waited
   * (since its request arrived): it counts against the bound, so the bound holds end to end,
   * event-loop lag included. `client` (the client's IP) is only used for fairness.
   */
  async run<T>(task: () => Promise<T>, waitedMs = 0, client = ''): Promise<T> {
    await this.acquire(waitedMs, client);
    const slot: Running = { started: performance.now(), overlapped: this.running.size > 0 };
    for (const other of this.running) other.overlapped = true;
    this.running.add(slot);
    try {
      return await task();
    } finally {
      const took = performance.now() - slot.started;
      this.running.delete(slot);
      this.averageMs = average(this.averageMs, took);
      if (!slot.overlapped) this.idleMs = average(this.idleMs, took);
      this.release(client);
    }
  }

  /**
   * The longest a caller may wait for a slot since its arrival: 1.5 idle hash times minus the
   * current one (the hash it will run), at most `queueTimeoutMs`; before any measurement,
   * `queueTimeoutMs`.
   */
  maxWaitMs(): number {
    if (this.averageMs === undefined) return this.options.queueTimeoutMs;
    const idle = this.idleMs ?? this.averageMs;
    return Math.min(this.options.queueTimeoutMs, WAIT_AND_HASH_BUDGET * idle - this.averageMs);
  }

  /**
   * When a caller queued behind `ahead` waiters would get a slot, in ms from now: slots free
   * as the running hashes reach the average duration, then every `averageMs` (FIFO).
   */
  predictedWaitMs(ahead = this.waiting.length): number {
    if (this.averageMs === undefined) return 0;
    const now = performance.now();
    const avg = this.averageMs;
    const frees = [...this.running].map(({ started }) => Math.max(0, avg - (now - started)));
    // A slot granted to a task that has not started yet frees in a whole hash; a free one now.
    for (let i = this.running.size; i < this.held; i += 1) frees.push(avg);
    for (let i = this.held; i < this.options.concurrency; i += 1) frees.push(0);
    frees.sort((a, b) => a - b);
    return frees[ahead % frees.length] + Math.floor(ahead / frees.length) * avg;
  }

  /**
   * True when a caller arriving now would certainly be refused: no free slot, no place in the
   * queue within its bound, and no queued caller of a client holding more places that it could
   * displace (see `makeRoom`). Side-effect free: a login asks it before its lockout reservation.
   */
  wouldRefuse(waitedMs = 0, client = ''): boolean {
    if (this.held < this.options.concurrency && this.waiting.length === 0) return false;
    if (this.fits(this.waiting.length, waitedMs)) return false;
    const mine = (this.places.get(client) ?? 0) + 1;
    return !this.waiting.some(
      (waiter) => waiter.client !== client && (this.places.get(waiter.client) ?? 0) > mine,
    );
  }

  private fits(ahead: number, waitedMs: number): boolean {
    return (
      ahead < this.options.queueLimit && waitedMs + this.predictedWaitMs(ahead) <= this.maxWaitMs()
    );
  }

  private acquire(waitedMs: number, client: string): Promise<void> {
    if (this.held < this.options.concurrency && this.waiting.length === 0) {
      this.take(client);
      this.held += 1;
      return Promise.resolve();
    }
    if (!this.fits(this.waiting.length, waitedMs) && !this.makeRoom(waitedMs, client)) {
      return Promise.reject(new HashLimiterBusy());
    }
    this.take(client);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        client,
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
        refuse: () => {
          clearTimeout(timer);
          this.drop(client);
          reject(new HashLimiterBusy());
        },
      };
      // The prediction may be wrong (a slow hash, a stalled event loop): the deadline holds.
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        waiter.refuse();
      }, this.maxWaitMs() - waitedMs);
      this.waiting.push(waiter);
    });
  }

  /**
   * Refuses queued callers of the client holding the most places, newest first, while it holds
   * more than `client` would, if that lets `client` in; otherwise refuses nobody.
   */
  private makeRoom(waitedMs: number, client: string): boolean {
    const places = new Map(this.places);
    const mine = (places.get(client) ?? 0) + 1;
    const evicted: Waiter[] = [];
    const queued = [...this.waiting];
    for (;;) {
      let victim: Waiter | undefined;
      let most = mine;
      for (let i = queued.length - 1; i >= 0; i -= 1) {
        const held = places.get(queued[i].client) ?? 0;
        if (queued[i].client !== client && held > most) {
          victim = queued[i];
          most = held;
        }
      }
      if (!victim) return false;
      queued.splice(queued.lastIndexOf(victim), 1);
      places.set(victim.client, most - 1);
      evicted.push(victim);
      if (this.fits(queued.length, waitedMs)) break;
    }
    for (const waiter of evicted) {
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      waiter.refuse();
    }
    return true;
  }

  private take(client: string): void {
    this.places.set(client, (this.places.get(client) ?? 0) + 1);
  }

  private drop(client: string): void {
    const held = (this.places.get(client) ?? 1) - 1;
    if (held > 0) this.places.set(client, held);
    else this.places.delete(client);
  }

  private release(client: string): void {
    this.drop(client);
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter; `held` is unchanged.
    if (next) next.grant();
    else this.held -= 1;
  }
}
