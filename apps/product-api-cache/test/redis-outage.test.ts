import type { ServiceInstance } from '@redis-patterns/service-kit';
import type { PostgresServer, RedisServer, Replicas } from '@redis-patterns/testkit';
import {
  productInput,
  request,
  sleep,
  standaloneServer,
  startFilePostgres,
  startServers,
  startService,
  type Answer,
  type Servers,
} from './harness';

interface Product {
  id: number;
  sku: string;
  name: string;
  category: string;
}

const COMMAND_TIMEOUT_MS = 500;

// The whole of Redis away: one server to pause or kill. On Sentinel and Cluster a master that
// goes away is failed over instead (failover.test.ts).
let postgres: PostgresServer;
let servers: Servers;
let redis: RedisServer;
let replicas: Replicas<ServiceInstance>;
beforeAll(async () => {
  postgres = await startFilePostgres();
  servers = await startServers('standalone', postgres);
  redis = standaloneServer(servers);
  replicas = await startService(2, servers, { breakerResetMs: 1000 });
});
afterAll(async () => {
  await replicas?.close();
  await servers?.stop();
  await postgres?.stop();
});

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
        const answer = await request(`${replicas.url(worker + i)}/products/${id}`);
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
  const { rows } = await servers.pool.query<{ name: string }>(
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
  const current = (await request(`${replicas.url(replica)}/products/${id}`)).body as Product;
  return request(`${replicas.url(replica)}/products/${id}`, {
    method: 'PUT',
    body: productInput(current.sku, { name, category: current.category }),
  });
}

describe('Redis paused (SIGSTOP) mid-load', () => {
  it('answers every read from PostgreSQL within the command timeout, no write succeeds falsely, hits resume after SIGCONT', async () => {
    for (let id = 1; id <= 40; id += 1) await request(`${replicas.url(id)}/products/${id}`);
    const load = readLoad(8);
    await sleep(500);
    const pausedAt = Date.now();
    await redis.pause();
    let write: Answer;
    let ready: number;
    try {
      await sleep(300);
      write = await changeName(0, 5, 'written while paused');
      ready = (await fetch(`${replicas.url(1)}/health/ready`)).status;
      await sleep(2500);
    } finally {
      await redis.resume();
    }
    const resumedAt = Date.now();
    await sleep(3000);
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
      const read = await request(`${replicas.url(i)}/products/5`);
      expect((read.body as Product).name).toBe(saved);
    }
    expect(replicas.apps.flatMap((app) => app.productCache.pendingGroups)).toEqual([]);
  });
});

describe('Redis killed and restarted empty', () => {
  it('bypasses at once while it is down, stays ready, and caches again once it is back', async () => {
    await request(`${replicas.url(0)}/products/6`);
    await redis.kill();
    let answers: Answer[];
    let write: Answer;
    try {
      answers = [];
      for (let i = 0; i < 20; i += 1) answers.push(await request(`${replicas.url(i)}/products/6`));
      write = await changeName(1, 6, 'written while down');
      expect((await fetch(`${replicas.url(0)}/health/ready`)).status).toBe(200);
    } finally {
      await redis.start();
    }
    expect(answers.every((a) => a.status === 200 && a.cache === 'bypass')).toBe(true);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
    const saved = await nameInDatabase(6);
    expectHonestFailure(write, 6, 'written while down', saved);

    const deadline = Date.now() + 8000;
    let cache: string | null = null;
    while (cache !== 'hit' && Date.now() < deadline) {
      await sleep(200);
      const read = await request(`${replicas.url(1)}/products/6`);
      expect((read.body as Product).name).toBe(saved);
      cache = read.cache;
    }
    expect(cache).toBe('hit');
    // Once Redis is back, writes succeed again.
    const after = await changeName(0, 6, 'written after the restart');
    expect(after.status).toBe(200);
    expect(((await request(`${replicas.url(1)}/products/6`)).body as Product).name).toBe(
      'written after the restart',
    );
  });
});
