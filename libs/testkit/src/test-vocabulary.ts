// The words every test in the repo uses: one HTTP call, one deferred gate, bounded waiting
// helpers instead of sleeps, a counter that fails on an extra delivery, and a per-file fixture
// whose cleanup runs even when its boot failed.

// Jest's globals, declared here so this lib builds without Jest's types (only tests import it).
declare const beforeAll: (fn: () => Promise<void>, timeoutMs?: number) => void;
declare const afterAll: (fn: () => Promise<void>, timeoutMs?: number) => void;

export interface HttpAnswer<B = Record<string, unknown>> {
  status: number;
  headers: Headers;
  /** The body as sent. */
  text: string;
  /** The parsed JSON body ({} when it is empty or not JSON), typed as the caller expects it. */
  body: B;
  ms: number;
}

export interface HttpCallOptions {
  /** JSON-encoded unless it is already a string or a Buffer. */
  body?: unknown;
  headers?: Record<string, string>;
  /** The call fails with a message naming it after this long (default 15 s): never a hang. */
  timeoutMs?: number;
}

/** One HTTP call that never throws on a status and never waits unbounded. */
export async function httpCall<B = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  options: HttpCallOptions = {},
): Promise<HttpAnswer<B>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined;
  if (options.body !== undefined) {
    const raw = typeof options.body === 'string' || Buffer.isBuffer(options.body);
    body = raw ? (options.body as string | Buffer) : JSON.stringify(options.body);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type'))
      headers['content-type'] = 'application/json';
  }
  const started = performance.now();
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    // fetch's abort is a DOMException, which is not an `Error` across Jest's realms.
    const reason =
      (error as { name?: unknown })?.name === 'TimeoutError'
        ? `no answer in ${timeoutMs} ms`
        : String(error);
    throw new Error(`${method} ${base}${path}: ${reason}`, { cause: error });
  }
  let parsed = {} as B;
  try {
    if (text) parsed = JSON.parse(text) as B;
  } catch {
    // Not JSON: `text` has it.
  }
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: parsed,
    ms: performance.now() - started,
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** A promise with its resolve and reject in hand: a gate a test opens when it chooses. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `ms`: for a duration the test is about (a pause, an expiry), never for a race. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Retries `assertion` every `intervalMs` until it stops throwing, then returns its value; after
 * `timeoutMs` fails with `what` and the assertion's last error.
 */
export async function eventually<T>(
  what: string,
  assertion: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() >= deadline) {
        const last = error instanceof Error ? error.message : String(error);
        throw new Error(`${what}: still failing after ${timeoutMs} ms: ${last}`, { cause: error });
      }
    }
    await delay(intervalMs);
  }
}

/** Runs `count` tasks with at most `concurrency` in flight; results in task order. */
export async function inParallel<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}

/**
 * Counts deliveries and fails on an extra one (as socket.io-redis-adapter's `times` helper does):
 * `exactly(n)` resolves once `n` arrived and no further one came within `quietMs`, and rejects
 * the moment an n+1th arrives or when `n` did not arrive within `timeoutMs`.
 */
export class DeliveryCounter<T = unknown> {
  readonly items: T[] = [];
  private expected: number | undefined;
  private waiter: Deferred<T[]> | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private quietMs = 0;

  constructor(readonly what: string) {}

  /** The listener to hand to the emitter. */
  readonly record = (item: T): void => {
    this.items.push(item);
    if (this.expected === undefined || !this.waiter) return;
    if (this.items.length > this.expected) {
      this.fail(`${this.what}: ${this.items.length} deliveries, expected exactly ${this.expected}`);
    } else if (this.items.length === this.expected) {
      this.settleAfterQuiet();
    }
  };

  exactly(count: number, { timeoutMs = 10_000, quietMs = 200 } = {}): Promise<T[]> {
    this.expected = count;
    this.quietMs = quietMs;
    this.waiter = deferred<T[]>();
    const waiter = this.waiter;
    const timeout = setTimeout(
      () =>
        this.fail(
          `${this.what}: ${this.items.length} of ${count} deliveries after ${timeoutMs} ms`,
        ),
      timeoutMs,
    );
    waiter.promise.then(
      () => clearTimeout(timeout),
      () => clearTimeout(timeout),
    );
    if (this.items.length > count)
      this.fail(`${this.what}: ${this.items.length} deliveries, expected exactly ${count}`);
    else if (this.items.length === count) this.settleAfterQuiet();
    return waiter.promise;
  }

  private settleAfterQuiet(): void {
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.waiter?.resolve([...this.items]), this.quietMs);
  }

  private fail(message: string): void {
    clearTimeout(this.quietTimer);
    this.waiter?.reject(new Error(message));
  }
}

/**
 * One resource for a whole test file: started in `beforeAll`, stopped in `afterAll` even when
 * its start (or a later step of it) threw, so a failed boot never leaves a server behind.
 * Returns the accessor the tests read it through.
 */
export function perFileFixture<T>(
  start: (cleanup: (step: () => Promise<unknown> | unknown) => void) => Promise<T>,
  { timeoutMs = 120_000 }: { timeoutMs?: number } = {},
): () => T {
  let value: T | undefined;
  let started = false;
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  beforeAll(async () => {
    value = await start((step) => cleanups.push(step));
    started = true;
  }, timeoutMs);
  afterAll(async () => {
    const errors: unknown[] = [];
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length) throw new AggregateError(errors, 'fixture cleanup failed');
  }, timeoutMs);
  return () => {
    if (!started) throw new Error('the per-file fixture did not start (see the beforeAll error)');
    return value as T;
  };
}
