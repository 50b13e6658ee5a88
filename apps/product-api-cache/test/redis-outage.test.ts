import { delay, eventually } from '@redis-patterns/testkit';
import {
  type Answer,
  cacheCall,
  type Product,
  productInput,
  standalonePerFile,
  standaloneServer,
} from './cache-harness';

const COMMAND_TIMEOUT_MS = 500;

// The whole of Redis away: one server to pause or kill. On Sentinel and Cluster a master that
// goes away is failed over instead (failover.test.ts).
const stack = standalonePerFile(2, { breakerResetMs: 1000 });
const servers = () => stack().servers;
const replicas = () => stack().replicas;
const redis = () => standaloneServer(servers());

interface Sample extends Answer {
  at: number;
}

/** `workers` clients reading ids 1..40 over both replicas until `stop()`. */
function readLoad(workers: number) {
  const samples: Sample[] = [];
  let running = true;
  const done = Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; running; i += 1) {
        const id = 1 + ((worker * 7 + i) % 40);
        const answer = await cacheCall(`${replicas().url(worker + i)}/products/${id}`);
        samples.push({ ...answer, at: Date.now() });
      }
    }),
  );
  return {
    samples,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function nameInDatabase(id: number): Promise<string> {
  const { rows } = await servers().pool.query<{ name: string }>(
    'SELECT name FROM products WHERE id = $1',
    [id],
  );
  return rows[0].name;
}

/**
 * A write while Redis is away is never a success: either refused before anything is written
 * (breaker open) or saved and answered 503 while its invalidation is retried.
 */
function expectHonestFailure(write: Answer, id: number, name: string, saved: string): void {
  expect(write.status).toBe(503);
  const { code } = write.body as { code: string };
  expect(['REDIS_UNAVAILABLE', 'CACHE_INVALIDATION_PENDING']).toContain(code);
  expect(saved === name).toBe(code === 'CACHE_INVALIDATION_PENDING');
  if (code === 'CACHE_INVALIDATION_PENDING') {
    expect((write.body as { message: string }).message).toMatch(new RegExp(`product ${id}\\b`));
  }
}

async function changeName(replica: number, id: number, name: string): Promise<Answer> {
  const current = (await cacheCall(`${replicas().url(replica)}/products/${id}`)).body as Product;
  return cacheCall(`${replicas().url(replica)}/products/${id}`, {
    method: 'PUT',
    body: productInput(current.sku, { name, category: current.category }),
  });
}

describe('Redis paused (SIGSTOP) mid-load', () => {
  it('answers every read from PostgreSQL within the command timeout, no write succeeds falsely, hits resume after SIGCONT', async () => {
    for (let id = 1; id <= 40; id += 1) await cacheCall(`${replicas().url(id)}/products/${id}`);
    const load = readLoad(8);
    await delay(500);
    const pausedAt = Date.now();
    await redis().pause();
    let write: Answer;
    let ready: number;
    try {
      await delay(300);
      write = await changeName(0, 5, 'written while paused');
      ready = (await fetch(`${replicas().url(1)}/health/ready`)).status;
      await delay(2500);
    } finally {
      await redis().resume();
    }
    const resumedAt = Date.now();
    await delay(3000);
    await load.stop();

    expectHonestFailure(write, 5, 'written while paused', await nameInDatabase(5));
    expect(write.ms).toBeLessThan(COMMAND_TIMEOUT_MS + 1500);
    expect(ready).toBe(200);
    const { samples } = load;
    expect(samples.length).toBeGreaterThan(100);
    expect(samples.filter((s) => s.status !== 200)).toEqual([]);
    // No request slower than the command timeout plus the query (generous margin for CI).
    expect(Math.max(...samples.map((s) => s.ms))).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
    const during = samples.filter((s) => s.at > pausedAt + COMMAND_TIMEOUT_MS && s.at < resumedAt);
    expect(during.length).toBeGreaterThan(0);
    expect(during.some((s) => s.cache === 'bypass')).toBe(true);
    // The breaker: once open (at the latest after the L1 lifetime plus one timeout), a bypass
    // does not wait for the command timeout any more, except the periodic trial command.
    const late = during.filter((s) => s.at > pausedAt + 1000 + 2 * COMMAND_TIMEOUT_MS);
    const quick = late.filter((s) => s.cache === 'bypass' && s.ms < COMMAND_TIMEOUT_MS / 2);
    expect(late.length).toBeGreaterThan(0);
    expect(quick.length).toBeGreaterThan(late.length / 2);
    const lastSecond = samples.filter((s) => s.at > resumedAt + 2000);
    expect(lastSecond.filter((s) => s.cache === 'hit').length).toBeGreaterThan(
      lastSecond.length / 2,
    );
    // Whatever the database holds after the pause is what every replica serves.
    const saved = await nameInDatabase(5);
    for (let i = 0; i < 2; i += 1) {
      const read = await cacheCall(`${replicas().url(i)}/products/5`);
      expect((read.body as Product).name).toBe(saved);
    }
    expect(replicas().apps.flatMap((app) => app.productCache.pendingGroups)).toEqual([]);
  });
});

describe('Redis killed and restarted empty', () => {
  it('bypasses at once while it is down, stays ready, and caches again once it is back', async () => {
    await cacheCall(`${replicas().url(0)}/products/6`);
    await redis().kill();
    let answers: Answer[];
    let write: Answer;
    try {
      answers = [];
      for (let i = 0; i < 20; i += 1)
        answers.push(await cacheCall(`${replicas().url(i)}/products/6`));
      write = await changeName(1, 6, 'written while down');
      expect((await fetch(`${replicas().url(0)}/health/ready`)).status).toBe(200);
    } finally {
      await redis().start();
    }
    expect(answers.every((a) => a.status === 200 && a.cache === 'bypass')).toBe(true);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
    const saved = await nameInDatabase(6);
    expectHonestFailure(write, 6, 'written while down', saved);

    const names = new Set<string>();
    await eventually(
      'hits again once Redis is back',
      async () => {
        const read = await cacheCall<Product>(`${replicas().url(1)}/products/6`);
        names.add(read.body.name);
        expect(read.cache).toBe('hit');
      },
      { timeoutMs: 8000, intervalMs: 200 },
    );
    // Every read meanwhile, bypass or hit, served what PostgreSQL holds.
    expect([...names]).toEqual([saved]);
    // Once Redis is back, writes succeed again.
    const after = await changeName(0, 6, 'written after the restart');
    expect(after.status).toBe(200);
    expect(((await cacheCall(`${replicas().url(1)}/products/6`)).body as Product).name).toBe(
      'written after the restart',
    );
  });
});
