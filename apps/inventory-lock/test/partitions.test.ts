import { join } from 'node:path';
import {
  delay,
  startPostgres,
  until,
  type HttpAnswer,
  type PostgresServer,
} from '@redis-patterns/testkit';
import { checkHistory, type Ack } from './history-checker';
import { createLab, netnsAvailable, redisOn, type Host, type NetnsLab } from './netns-hosts';
import { recordedCall, sql } from './inventory-harness';

// Real network partitions between the project's own test hosts (Linux network namespaces, veth,
// a bridge: root only, as CI runs): three Redlock masters and two service processes
// (`src/server.ts`) are separate hosts; PostgreSQL stays in this namespace behind a forward the
// hosts can be cut from. Links are cut while a load of holds, confirms and cancels runs, and a
// checker reads the whole history afterwards. This is the reduced size that runs in npm test.

const SERVER_TS = join(__dirname, '..', 'src', 'server.ts');
const LOCK_TTL_MS = 1000;
const STATEMENT_TIMEOUT_MS = 1000;
const LOAD_SKUS = ['load-a', 'load-b', 'load-c', 'load-d'];
// Enough that the load never sells out before its last step, however fast the machine.
const STOCK = 3000;
// No request may hang: `recordedCall` gives each httpCall's 15 s deadline, far above every bound
// the service states, and records a hang or a dropped connection as status 0 (failing the test).

describe('inventory-lock under network partitions (netns hosts)', () => {
  let lab: NetnsLab | undefined;
  let postgres: PostgresServer;
  let databaseUrl: string;
  const masters: Host[] = [];
  const services: Host[] = [];
  const urls: string[] = [];
  const outputs: Array<() => string> = [];

  beforeAll(async () => {
    if (!netnsAvailable()) {
      throw new Error('the partition suite needs root and iproute2 (ip netns): CI runs as root');
    }
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase();
    lab = createLab();
    const db = new URL(databaseUrl);
    const forwarded = await lab.forward(Number(db.port));
    db.hostname = lab.services;
    db.port = String(forwarded);
    for (const name of ['m1', 'm2', 'm3']) {
      const host = lab.addHost(name);
      masters.push(host);
      redisOn(host);
    }
    const lockUrls = masters.map((m) => `redis://${m.ip}:6379`);
    for (const name of ['svc1', 'svc2']) services.push(lab.addHost(name));
    await until(
      'the masters to listen',
      async () => {
        const { Redis } = await import('ioredis');
        for (const url of lockUrls) {
          const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
          try {
            await client.connect();
            await client.ping();
          } finally {
            client.disconnect();
          }
        }
        return true;
      },
      15000,
    );
    for (const host of services) {
      const { output } = host.spawn(process.execPath, [SERVER_TS], {
        NODE_OPTIONS: '--conditions=@redis-patterns/source -r @swc-node/register',
        LOG_LEVEL: 'warn',
        PORT: '3003',
        HOST: host.ip,
        REDIS_URL: lockUrls[0],
        REDLOCK_URLS: lockUrls.join(','),
        DATABASE_URL: db.toString(),
        DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
        LOCK_TTL_MS: String(LOCK_TTL_MS),
        LOCK_EXTEND_THRESHOLD_MS: '500',
        LOCK_RETRY_COUNT: '100',
        LOCK_RETRY_DELAY_MS: '20',
        LOCK_RETRY_JITTER_MS: '20',
        HOLD_SWEEP_INTERVAL_MS: '200',
        TEST_HOOKS: 'true',
      });
      outputs.push(output);
      urls.push(`http://${host.ip}:3003`);
    }
    for (const [i, url] of urls.entries()) {
      await until(
        `service ${i + 1} ready (output: ${outputs[i]().slice(-500)})`,
        async () =>
          (await recordedCall(url, 'GET', '/health/ready')).status === 200 ? true : undefined,
        60000,
      );
    }
    for (const sku of [...LOAD_SKUS, 'p-a', 'p-b', 'q-a']) {
      const answer = await recordedCall(urls[0], 'PUT', `/inventory/${sku}`, {
        body: { stock: STOCK },
      });
      if (answer.status !== 200) throw new Error(`restock ${sku}: ${JSON.stringify(answer)}`);
    }
  }, 120_000);

  afterAll(async () => {
    await lab?.destroy();
    await postgres?.stop();
  });

  it('holds, confirms, cancels and expiries stay exact with links cut; the checker finds the history consistent', async () => {
    const l = lab as NetnsLab;
    const acks: Ack[] = [];
    const answers: HttpAnswer[] = [];
    let running = true;
    let n = 0;
    const worker = async (w: number) => {
      while (running) {
        n += 1;
        const i = n;
        const url = urls[(w + i) % 2];
        const first = (w + i) % LOAD_SKUS.length;
        const lines = [
          { sku: LOAD_SKUS[first], quantity: 1 + (i % 3) },
          { sku: LOAD_SKUS[(first + 1 + (i % 3)) % LOAD_SKUS.length], quantity: 1 },
        ];
        const orderId = `ld-${w}-${i}`;
        const short = i % 5 === 0;
        const held = await recordedCall(url, 'POST', `/orders/${orderId}/hold`, {
          body: {
            lines,
            ...(short ? { ttlMs: 1000 } : {}),
          },
        });
        answers.push(held);
        if (held.status !== 201) continue;
        acks.push({ op: 'hold', orderId, lines });
        if (short) continue;
        const op = i % 3 === 0 ? 'cancel' : 'confirm';
        const settled = await recordedCall(
          urls[(w + i + 1) % 2],
          'POST',
          `/orders/${orderId}/${op}`,
        );
        answers.push(settled);
        if (settled.status === 200) acks.push({ op, orderId, status: String(settled.body.status) });
      }
    };
    const load = Promise.all([0, 1, 2, 3].map((w) => worker(w)));
    const [svc1, svc2] = services;
    const report: Record<string, unknown> = {};
    try {
      await delay(1000);

      // 1. The lock holder cut off from every master past its TTL: its lease runs out, the
      // other replica takes the skus, and the stalled holder's write is fenced out.
      const stalled = recordedCall(urls[0], 'POST', '/orders/stalled/hold', {
        body: {
          lines: [
            { sku: 'p-a', quantity: 1 },
            { sku: 'p-b', quantity: 1 },
          ],
        },
        headers: { 'x-test-work-ms': String(LOCK_TTL_MS * 3) },
      });
      await delay(500);
      for (const m of masters) l.cut(svc1, m);
      await delay(LOCK_TTL_MS + 300);
      const taker = await recordedCall(urls[1], 'POST', '/orders/taker/hold', {
        body: {
          lines: [
            { sku: 'p-b', quantity: 2 },
            { sku: 'p-a', quantity: 2 },
          ],
        },
      });
      expect(taker.status).toBe(201);
      acks.push({
        op: 'hold',
        orderId: 'taker',
        lines: [
          { sku: 'p-a', quantity: 2 },
          { sku: 'p-b', quantity: 2 },
        ],
      });
      const stalledAnswer = await stalled;
      for (const m of masters) l.heal(svc1, m);
      expect([stalledAnswer.status, stalledAnswer.body.code]).toEqual([503, 'FENCING_TOKEN_STALE']);
      report.stalledHolder = stalledAnswer.body.code;

      // 2. One master cut off from everyone: a quorum of two keeps holds going.
      const during = answers.length;
      l.isolate(masters[1]);
      // Waits for a hold acknowledged while the master is away (bounded), not a fixed window:
      // on a loaded machine the load's holds can all land after a 2 s window closes.
      const whileIsolated = await until(
        'a hold acknowledged while one master is isolated',
        async () => {
          const held = answers.slice(during).filter((a) => a.status === 201).length;
          return held > 0 ? held : undefined;
        },
        15_000,
      ).finally(() => l.rejoin(masters[1]));
      expect(whileIsolated).toBeGreaterThan(0);
      report.heldWhileMasterIsolated = whileIsolated;

      // 3. A replica cut off from PostgreSQL in the middle of a hold: an honest 503 within the
      // statement bound, nothing half-written; the other replica keeps serving.
      const cutMidway = recordedCall(urls[1], 'POST', '/orders/cut-midway/hold', {
        body: { lines: [{ sku: 'q-a', quantity: 1 }] },
        headers: { 'x-test-work-ms': '300' },
      });
      await delay(150);
      l.cut(svc2, l.services);
      const cutAnswer = await cutMidway;
      await delay(1000);
      l.heal(svc2, l.services);
      expect(cutAnswer.status).toBe(503);
      expect(cutAnswer.ms).toBeLessThan(STATEMENT_TIMEOUT_MS * 10);
      report.cutFromPostgres = `${cutAnswer.status} ${String(cutAnswer.body.code)} in ${cutAnswer.ms} ms`;
      await delay(1000);
    } finally {
      running = false;
      await load;
    }

    // Short holds expire by the sweeps (ttl 1 s, sweeps every 200 ms).
    await until(
      'every short hold past its expiry to be swept',
      async () => {
        const [row] = await sql<{ count: string }>(
          databaseUrl,
          "SELECT count(*) FROM holds WHERE status = 'held' AND expires_at < now() - interval '1 second'",
        );
        return Number(row.count) === 0 ? true : undefined;
      },
      20000,
    );
    const outcomes: Record<string, number> = {};
    for (const a of answers) {
      const key = `${a.status} ${a.status < 300 ? '' : String(a.body.code)}`.trim();
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    const verdict = await checkHistory(databaseUrl, acks);
    const [expired] = await sql<{ count: string }>(
      databaseUrl,
      "SELECT count(*) FROM holds WHERE status = 'expired'",
    );
    console.log(
      `partition history: ${verdict.events} events over ${verdict.skus} skus, ${verdict.acks} acknowledged ops, ` +
        `${expired.count} expired holds; answers ${JSON.stringify(outcomes)}; ${JSON.stringify(report)}; ` +
        `verdict ${verdict.violations.length ? `FAIL ${verdict.violations.slice(0, 5).join('; ')}` : 'OK'}`,
    );
    if (outcomes['500 INTERNAL_ERROR']) {
      for (const [i, output] of outputs.entries()) console.log(`service ${i + 1}:\n${output()}`);
    }
    // Never a hang (status 0) or a 500: only answers the API declares.
    expect(Object.keys(outcomes).filter((o) => !/^(200|201|409 \w+|503 \w+)$/.test(o))).toEqual([]);
    expect(acks.length).toBeGreaterThan(20);
    expect(Number(expired.count)).toBeGreaterThan(0);
    expect(verdict.violations).toEqual([]);
  }, 120_000);
});
