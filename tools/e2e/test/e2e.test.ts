// The whole system, as separate processes with two replicas each, used only through the gateway.
import { randomUUID } from 'node:crypto';
import { GatewayClient, cookieOf } from '../src/gateway-client';
import { ChatMember, type ChatMessage } from '../src/chat-client';
import {
  LIMITED_API_KEY,
  LIMITED_TIER_LIMIT,
  metricSum,
  startTestCluster,
} from '../src/test-cluster';
import { TraceCollector } from '../src/trace-collector';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delay, eventually, freePort, httpCall, perFileFixture } from '@redis-patterns/testkit';
import { startObserver } from '../../dev/observe';
import { curlExamples, examplesScript } from '../src/readme-examples';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

describe('the system through the gateway', () => {
  const members: ChatMember[] = [];
  const tag = randomUUID().slice(0, 8);
  const collector = new TraceCollector();
  const system = perFileFixture(
    async (cleanup) => {
      await collector.start();
      cleanup(() => collector.stop());
      // Traces from the gateway and the cache (the other services trace the same way).
      const tracing = {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
      };
      const cluster = await startTestCluster({
        extraEnv: { 'gateway-ratelimit': tracing, 'product-api-cache': tracing },
      });
      cleanup(() => cluster.close());
      cleanup(() => members.forEach((member) => member.close()));
      return { cluster, gw: new GatewayClient(cluster.gatewayUrl) };
    },
    { timeoutMs: 180_000 },
  );
  const cluster = () => system().cluster;
  const gw = () => system().gw;
  const replicas = (service: string) => cluster().instances.filter((i) => i.service === service);

  it('npm start -- --observe: a local Prometheus scrapes every replica', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'observe-'));
    const observer = await startObserver(cluster(), dir, await freePort());
    try {
      // prometheus is a README prerequisite: without it the test fails, naming it.
      expect(observer).toBeDefined();
      const up = async () => {
        const { body } = await httpCall<{
          data: { result: { metric: { job: string }; value: [number, string] }[] };
        }>(`${observer?.url}`, 'GET', '/api/v1/query?query=up');
        return body.data.result;
      };
      await eventually(
        'every replica scraped and up',
        async () =>
          expect((await up()).filter((r) => r.value[1] === '1').length).toBe(
            cluster().instances.length,
          ),
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      const jobs = new Set((await up()).map((r) => r.metric.job));
      expect(jobs).toEqual(new Set(cluster().instances.map((i) => i.service)));
    } finally {
      await observer?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('traces one request across the gateway, the service, Redis and PostgreSQL', async () => {
    const traceId = randomUUID().replace(/-/g, '');
    // A product nobody read yet (a fresh one per attempt, of the 10,000 seeded): a cache miss,
    // so the service reads PostgreSQL and fills Redis.
    const id = 5000 + Math.floor(Math.random() * 5000);
    const read = await gw().get(`/api/products/${id}`, {
      headers: { traceparent: `00-${traceId}-${'1'.repeat(16)}-01` },
    });
    expect(read.status).toBe(200);
    const has = (test: (span: (typeof collector.spans)[number]) => boolean) =>
      collector.trace(traceId).some(test);
    const db = (span: (typeof collector.spans)[number]) =>
      span.attributes['db.system.name'] ?? span.attributes['db.system'];
    const gatewayServerOf = (s: (typeof collector.spans)[number]) =>
      s.service === 'gateway-ratelimit' && s.kind === 2;
    const gatewayClientOf = (s: (typeof collector.spans)[number]) =>
      s.service === 'gateway-ratelimit' && s.kind === 3 && 'http.request.method' in s.attributes;
    // Each process exports its spans in its own batches: wait for every span the checks read
    // (the gateway's server span ends last, after the response, and can come a batch later).
    await eventually(
      "the gateway's and the cache's spans, Redis and PostgreSQL included, collected",
      () => {
        expect(has((s) => s.service === 'product-api-cache' && db(s) === 'redis')).toBe(true);
        expect(has((s) => s.service === 'product-api-cache' && db(s) === 'postgresql')).toBe(true);
        expect(has(gatewayServerOf)).toBe(true);
        expect(has(gatewayClientOf)).toBe(true);
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    const spans = collector.trace(traceId);
    const gatewayServer = spans.find(gatewayServerOf);
    const gatewayClient = spans.find(gatewayClientOf);
    const serviceServer = spans.find((s) => s.service === 'product-api-cache' && s.kind === 2);
    expect(gatewayServer?.parentSpanId).toBe('1'.repeat(16));
    // W3C traceparent carried through the proxy: the service's span is the gateway call's child.
    expect(serviceServer?.parentSpanId).toBe(gatewayClient?.spanId);
    expect(spans.filter((s) => s.service === 'product-api-cache').length).toBeGreaterThan(2);
  });

  it('registers, logs in, and both auth replicas recognise the session', async () => {
    const username = `e2e_${tag}`;
    const password = 'correct horse battery';
    const registered = await gw().post('/api/auth/register', { username, password });
    expect(registered.status).toBe(201);
    const login = await gw().post('/api/auth/login', { username, password });
    expect(login.status).toBe(200);
    const cookie = cookieOf(login);
    expect(cookie).toMatch(/^sid=/);

    const auth = replicas('auth-session');
    const served = (url: string) =>
      metricSum(url, 'http_request_duration_seconds_count', 'route="/auth/me"');
    const before = await Promise.all(auth.map((i) => served(i.url)));
    for (let i = 0; i < 6; i += 1) {
      const me = await gw().get('/api/auth/me', { headers: { cookie } });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ user: { username } });
    }
    const after = await Promise.all(auth.map((i) => served(i.url)));
    // Round-robin in the gateway: every auth replica answered some of the six.
    auth.forEach((_, i) => expect(after[i] - before[i]).toBeGreaterThan(0));

    const logout = await gw().post('/api/auth/logout', {}, { headers: { cookie } });
    expect(logout.status).toBe(204);
    for (let i = 0; i < 2; i += 1) {
      expect((await gw().get('/api/auth/me', { headers: { cookie } })).status).toBe(401);
    }
  });

  it('updates a product and every following read shows the update, whichever replica answers', async () => {
    const id = 4242;
    const first = await gw().get(`/api/products/${id}`);
    expect(first.status).toBe(200);
    // Warm both replicas' caches (and L1) with the old value first.
    for (let i = 0; i < 4; i += 1) expect((await gw().get(`/api/products/${id}`)).status).toBe(200);
    const { sku, name, description, category, priceCents } = first.body as Record<string, unknown>;
    const newPrice = (priceCents as number) + 1234;
    const updated = await gw().put(`/api/products/${id}`, {
      sku,
      name,
      description,
      category,
      priceCents: newPrice,
    });
    expect(updated.status).toBe(200);

    const products = replicas('product-api-cache');
    const served = (url: string) =>
      metricSum(url, 'http_request_duration_seconds_count', 'route="/products/:id"');
    const before = await Promise.all(products.map((i) => served(i.url)));
    for (let i = 0; i < 10; i += 1) {
      const read = await gw().get(`/api/products/${id}`);
      expect(read.status).toBe(200);
      expect((read.body as { priceCents: number }).priceCents).toBe(newPrice);
    }
    const after = await Promise.all(products.map((i) => served(i.url)));
    products.forEach((_, i) => expect(after[i] - before[i]).toBeGreaterThan(0));
  });

  it('reserves stock concurrently down to exactly zero, never below', async () => {
    const sku = `e2e-${tag}`;
    const stock = 20;
    expect((await gw().put(`/api/inventory/${sku}`, { stock })).status).toBe(200);
    const orders = Array.from({ length: 60 }, (_, i) => `e2e-${tag}-${i}`);
    const reserve = (orderId: string) =>
      gw().post(`/api/inventory/${sku}/reservations`, { orderId, quantity: 1 });
    let replies = await Promise.all(orders.map(reserve));
    // A lock that could not be had within the retry budget is a 503 with nothing written; the
    // request is idempotent per orderId, so the client retries it.
    for (let round = 0; round < 5; round += 1) {
      const retry = orders.filter((_, i) => replies[i].status === 503);
      if (retry.length === 0) break;
      // The client's back-off before it retries.
      await delay(500);
      const again = await Promise.all(retry.map(reserve));
      replies = replies.map((r, i) => (r.status === 503 ? again[retry.indexOf(orders[i])] : r));
    }
    const created = replies.filter((r) => r.status === 201 || r.status === 200).length;
    const refused = replies.filter(
      (r) => r.status === 409 && (r.body as { code?: string }).code === 'INSUFFICIENT_STOCK',
    ).length;
    expect(created).toBe(stock);
    expect(refused).toBe(orders.length - stock);
    const left = await gw().get(`/api/inventory/${sku}`);
    expect(left.body).toMatchObject({ sku, stock: 0 });
  });

  it('takes scores from both replicas and reads the top 10 in order', async () => {
    const board = `e2e-${tag}`;
    const scores = Array.from({ length: 15 }, (_, i) => ({
      playerId: `p${i}`,
      score: 100 + i * 7,
    }));
    const replies = await Promise.all(
      scores.map((s) => gw().post(`/api/leaderboards/${board}/scores`, s)),
    );
    for (const reply of replies) expect(reply.status).toBe(200);
    const top = await gw().get(`/api/leaderboards/${board}/top?limit=10`);
    expect(top.status).toBe(200);
    const body = top.body as {
      entries: { rank: number; playerId: string; score: number }[];
      total: number;
    };
    expect(body.total).toBe(15);
    const expected = [...scores].sort((a, b) => b.score - a.score).slice(0, 10);
    expect(body.entries.map((e) => [e.rank, e.playerId, e.score])).toEqual(
      expected.map((s, i) => [i + 1, s.playerId, s.score]),
    );
  });

  it('exchanges chat messages over WebSocket between clients on different chat replicas', async () => {
    const chat = replicas('chat-realtime');
    const connectedOn = () =>
      Promise.all(chat.map((i) => metricSum(i.url, 'chat_connected_sockets')));
    const room = `e2e-${tag}`;
    const alice = new ChatMember(cluster().gatewayUrl, 'alice');
    members.push(alice);
    await alice.connected();
    const bob = new ChatMember(cluster().gatewayUrl, 'bob');
    members.push(bob);
    await bob.connected();
    // The gateway balances upgrades round-robin; connect more until both replicas hold one.
    while ((await connectedOn()).some((n) => n === 0) && members.length < 6) {
      const extra = new ChatMember(cluster().gatewayUrl, `extra${members.length}`);
      members.push(extra);
      await extra.connected();
    }
    expect((await connectedOn()).every((n) => n > 0)).toBe(true);
    const inRoom = members;
    for (const member of inRoom) expect((await member.join(room)).error).toBeUndefined();

    const fromAlice = await alice.send(room, 'hello from alice', `a-${tag}`);
    expect(fromAlice.id).toEqual(expect.any(String));
    const fromBob = await bob.send(room, 'hello from bob', `b-${tag}`);
    expect(fromBob.id).toEqual(expect.any(String));
    // Every member, whichever replica it is on, receives both, exactly once.
    await eventually(
      'both messages received by every member',
      () => {
        for (const m of inRoom) {
          expect(m.received.has(fromAlice.id as string)).toBe(true);
          expect(m.received.has(fromBob.id as string)).toBe(true);
        }
      },
      { timeoutMs: 5000, intervalMs: 50 },
    );
    for (const member of inRoom) {
      expect(member.duplicates).toBe(0);
      const texts = [...member.received.values()].map((m: ChatMessage) => m.text);
      expect(texts).toEqual(['hello from alice', 'hello from bob']);
    }
  });

  it('limits a client: 429 with Retry-After and the error envelope, other clients unaffected', async () => {
    const headers = { 'x-api-key': LIMITED_API_KEY };
    for (let i = 0; i < LIMITED_TIER_LIMIT; i += 1) {
      expect((await gw().get('/api/products/1', { headers })).status).toBe(200);
    }
    const limited = await gw().get('/api/products/1', { headers });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body).toMatchObject({
      statusCode: 429,
      code: 'RATE_LIMITED',
      error: 'Too Many Requests',
    });
    expect((await gw().get('/api/products/1')).status).toBe(200);
  });

  // Each README's curl examples, in order, against this system (ports pointed at its replicas):
  // the status each example states, or a 2xx. A README runs once: its examples register users
  // and create rows, as a reader following it would.
  const root = join(__dirname, '..', '..', '..');
  const readmes = [
    'README.md',
    ...readdirSync(join(root, 'apps')).map((app) => join('apps', app, 'README.md')),
  ];
  it.each(readmes)(
    'every curl example in %s answers what it says',
    (readme) => {
      const examples = curlExamples(join(root, readme));
      const dir = mkdtempSync(join(tmpdir(), 'readme-'));
      try {
        const baseUrlOf = (service: string) =>
          service === 'gateway-ratelimit' ? cluster().gatewayUrl : replicas(service)[0].url;
        const run = spawnSync('bash', ['-c', examplesScript(examples, baseUrlOf)], {
          cwd: dir,
          encoding: 'utf8',
          timeout: 120_000,
        });
        const answered = new Map(
          [...run.stdout.matchAll(/^EXAMPLE (\d+) (\d{3})$/gm)].map((m) => [
            Number(m[1]),
            Number(m[2]),
          ]),
        );
        const wrong = examples.flatMap((example, index) => {
          if (example.kind !== 'curl' || example.notRun) return [];
          const status = answered.get(index);
          const ok =
            status !== undefined &&
            (example.status === undefined
              ? status >= 200 && status < 300
              : status === example.status);
          return ok
            ? []
            : [
                `${readme}:${example.line} answered ${status ?? 'nothing'}, says ${example.status ?? '2xx'}: ${example.command}`,
              ];
        });
        expect(wrong).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    150_000,
  );
});
