import type { ServiceInstance } from '@redis-patterns/service-kit';
import type { Replicas } from '@redis-patterns/testkit';
import {
  productInput,
  request,
  sleep,
  startCluster,
  startServers,
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

let servers: Servers;
let replicas: Replicas<ServiceInstance>;
beforeAll(async () => {
  servers = await startServers();
  replicas = await startCluster(2, servers, { breakerResetMs: 1000 });
});
afterAll(async () => {
  await replicas?.close();
  await servers?.stop();
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

async function changeName(replica: number, id: number, name: string): Promise<Answer> {
  const current = (await request(`${replicas.url(replica)}/products/${id}`)).body as Product;
  return request(`${replicas.url(replica)}/products/${id}`, {
    method: 'PUT',
    body: productInput(current.sku, { name, category: current.category }),
  });
}

describe('Redis paused (SIGSTOP) mid-load', () => {
  it('answers every read from PostgreSQL within the command timeout, writes succeed, hits resume after SIGCONT', async () => {
    for (let id = 1; id <= 40; id += 1) await request(`${replicas.url(id)}/products/${id}`);
    const load = readLoad(8);
    await sleep(500);
    const pausedAt = Date.now();
    await servers.redis.pause();
    let write: Answer;
    let ready: number;
    try {
      await sleep(300);
      write = await changeName(0, 5, 'written while paused');
      ready = (await fetch(`${replicas.url(1)}/health/ready`)).status;
      await sleep(2500);
    } finally {
      await servers.redis.resume();
    }
    const resumedAt = Date.now();
    await sleep(3000);
    await load.stop();

    expect(write.status).toBe(200);
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
    // The write made during the pause is what every replica serves afterwards.
    for (let i = 0; i < 2; i += 1) {
      const read = await request(`${replicas.url(i)}/products/5`);
      expect((read.body as Product).name).toBe('written while paused');
    }
  });
});

describe('Redis killed and restarted empty', () => {
  it('bypasses at once while it is down, stays ready, and caches again once it is back', async () => {
    await request(`${replicas.url(0)}/products/6`);
    await servers.redis.kill();
    let answers: Answer[];
    let write: Answer;
    try {
      answers = [];
      for (let i = 0; i < 20; i += 1) answers.push(await request(`${replicas.url(i)}/products/6`));
      write = await changeName(1, 6, 'written while down');
      expect((await fetch(`${replicas.url(0)}/health/ready`)).status).toBe(200);
    } finally {
      await servers.redis.start();
    }
    expect(answers.every((a) => a.status === 200 && a.cache === 'bypass')).toBe(true);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
    expect(write.status).toBe(200);

    const deadline = Date.now() + 8000;
    let cache: string | null = null;
    while (cache !== 'hit' && Date.now() < deadline) {
      await sleep(200);
      const read = await request(`${replicas.url(1)}/products/6`);
      expect((read.body as Product).name).toBe('written while down');
      cache = read.cache;
    }
    expect(cache).toBe('hit');
  });
});
