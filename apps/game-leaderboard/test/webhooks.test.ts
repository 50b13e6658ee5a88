import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import {
  DeliveryCounter,
  httpCall,
  startServiceProcess,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  until,
  type RedisTopology,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import {
  sharedPostgres,
  type Reply,
  startLeaderboard,
  type Leaderboard,
} from './leaderboard-harness';

const postgres = sharedPostgres();
// The delivery state lives in PostgreSQL alone and the Redis topology takes no part in it: the
// first topology under test is enough.
const kind = topologiesUnderTest()[0];
const SOURCE_NODE_OPTIONS = '--conditions=@redis-patterns/source -r @swc-node/register';

interface Received {
  key: string;
  attempt: number;
  at: number;
  body: { idempotencyKey: string; board: string; period: { id: string }; entries: unknown[] };
}

/** A webhook receiver: records every request; `answer` decides each reply (null: hold it). */
async function startReceiver(
  answer: (request: Received, seen: Received[]) => number | null,
): Promise<{
  url: string;
  seen: Received[];
  /** The same requests, counted: `deliveries.exactly(n)` fails on an extra one. */
  deliveries: DeliveryCounter<Received>;
  held: ServerResponse[];
  close(): Promise<void>;
}> {
  const seen: Received[] = [];
  const deliveries = new DeliveryCounter<Received>('webhook requests');
  const held: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      const request: Received = {
        key: String(req.headers['idempotency-key']),
        attempt: Number(req.headers['x-leaderboard-attempt']),
        at: Date.now(),
        body: JSON.parse(text),
      };
      seen.push(request);
      deliveries.record(request);
      const status = answer(request, seen);
      if (status === null) held.push(res);
      else res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    seen,
    deliveries,
    held,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Idempotency keys the receiver acknowledged (answered 2xx), by period id: what it would keep. */
const distinctKeys = (seen: Received[]) => [...new Set(seen.map((request) => request.key))];

describe(`game-leaderboard period webhooks on ${kind}`, () => {
  describe('3 replicas in one process, injected clock', () => {
    let lb: Leaderboard;
    const url = (i: number) => lb.url(i);

    beforeAll(async () => {
      lb = await startLeaderboard(kind, { postgres: postgres(), replicas: 3 });
    }, 60_000);

    afterAll(async () => {
      await lb?.close();
    });

    it('retries with backoff until acknowledged: one idempotency key and one delivery per period', async () => {
      // Refuses the first two attempts of each period, then acknowledges.
      const receiver = await startReceiver((request, seen) =>
        seen.filter((r) => r.key === request.key).length <= 2 ? 500 : 204,
      );
      try {
        lb.clock.now = Date.parse('2026-11-26T23:58:00Z');
        const config = {
          sort: 'desc',
          operator: 'best',
          reset: '0 0 * * *',
          webhook: { url: receiver.url, top: 3 },
        };
        const put = await httpCall<Reply>(url(0), 'PUT', '/leaderboards/hooked', { body: config });
        expect(put.body.webhook).toEqual({ url: receiver.url, top: 3 });
        for (let i = 0; i < 5; i += 1) {
          const answer = await httpCall<Reply>(url(i), 'POST', '/leaderboards/hooked/scores', {
            body: {
              playerId: `p${i}`,
              score: 100 * i,
            },
          });
          expect(answer.status).toBe(200);
        }
        lb.clock.now = Date.parse('2026-11-27T00:00:02Z');
        const delivered = async (period: string) => {
          const row = await lb.pg.query(
            'SELECT attempts, delivered_at FROM lb_webhooks WHERE board = $1 AND period = $2',
            ['hooked', period],
          );
          return row.rows[0]?.delivered_at ? row.rows[0] : undefined;
        };
        const first = await until('day 1 delivered', () => delivered('p:20261126T0000Z'), 15_000);
        expect(first.attempts).toBe(3);

        const day1 = receiver.seen.filter((r) => r.body.period.id === '20261126T0000Z');
        // Three when each answer reached the replica in time (1 s); one more per late answer.
        expect(day1.map((r) => r.attempt)).toEqual(day1.map((_, i) => i + 1));
        expect(day1.length).toBe(first.attempts);
        expect(day1.length).toBeGreaterThanOrEqual(3);
        expect(distinctKeys(day1)).toHaveLength(1);
        expect(day1.every((r) => r.body.idempotencyKey === r.key)).toBe(true);
        // Backoff from 100 ms, doubling, jitter in [0.5, 1): at least 50 ms, then 100 ms.
        expect(day1[1].at - day1[0].at).toBeGreaterThanOrEqual(45);
        expect(day1[2].at - day1[1].at).toBeGreaterThanOrEqual(95);
        // The final top 3 of the archive, as GET .../periods/:id/top shows it.
        const archived = await httpCall<Reply>(
          url(1),
          'GET',
          '/leaderboards/hooked/periods/20261126T0000Z/top',
        );
        expect(day1[2].body).toMatchObject({
          board: 'hooked',
          period: { id: '20261126T0000Z', endsAt: '2026-11-27T00:00:00.000Z' },
          entries: archived.body.entries!.slice(0, 3),
        });
        expect(day1[2].body.entries.map((e) => (e as { playerId: string }).playerId)).toEqual([
          'p4',
          'p3',
          'p2',
        ]);

        // The next period has a key of its own, and is delivered once too.
        await httpCall<Reply>(url(2), 'POST', '/leaderboards/hooked/scores', {
          body: { playerId: 'q', score: 1 },
        });
        lb.clock.now = Date.parse('2026-11-28T00:00:02Z');
        await until('day 2 delivered', () => delivered('p:20261127T0000Z'), 15_000);
        // Every replica looks every 50 ms: nothing more comes once acknowledged.
        await receiver.deliveries.exactly(receiver.seen.length, { quietMs: 1000 });
        const byPeriod = new Map<string, Received[]>();
        for (const r of receiver.seen) {
          byPeriod.set(r.body.period.id, [...(byPeriod.get(r.body.period.id) ?? []), r]);
        }
        expect([...byPeriod.keys()].sort()).toEqual(['20261126T0000Z', '20261127T0000Z']);
        for (const requests of byPeriod.values()) {
          expect(distinctKeys(requests)).toHaveLength(1);
          expect(requests.length).toBeGreaterThanOrEqual(3);
        }
        expect(distinctKeys(receiver.seen)).toHaveLength(2);
      } finally {
        await receiver.close();
      }
    }, 60_000);

    it('refuses a webhook that is no http(s) URL, or carries credentials, with 400', async () => {
      for (const [webhook, message] of [
        [{ url: 'ftp://example.test/x' }, /http or https/],
        [{ url: 'not a url' }, /absolute URL/],
        [{ url: 'http://user:secret@example.test/' }, /credentials/],
        [{ url: 'http://example.test/\u001b' }, /webhook/],
        [{ url: 'http://example.test/', top: 0 }, /top/],
      ] as const) {
        const answer = await httpCall<Reply>(url(0), 'PUT', '/leaderboards/bad-hook', {
          body: {
            sort: 'desc',
            operator: 'best',
            reset: '@daily',
            webhook,
          },
        });
        expect([JSON.stringify(webhook), answer.status]).toEqual([JSON.stringify(webhook), 400]);
        expect(answer.body.message).toMatch(message);
        expect(answer.body.message).not.toMatch(/secret/);
      }
      expect((await httpCall<Reply>(url(1), 'GET', '/leaderboards/bad-hook')).status).toBe(404);
    });
  });

  describe('3 replica processes, one SIGKILLed while it delivers', () => {
    let topology: RedisTopology;
    let processes: ServiceProcess[] = [];
    let pool: Pool;
    let dir: string;
    let clockFile: string;
    const setClock = (iso: string) => {
      // Written whole and renamed: a replica never reads half a line.
      writeFileSync(`${clockFile}.tmp`, `${Date.parse(iso)} ${Date.now()}`);
      renameSync(`${clockFile}.tmp`, clockFile);
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'lb-clock-'));
      clockFile = join(dir, 'clock');
      setClock('2026-11-26T23:58:00Z');
      topology = await startTopology(kind);
      const databaseUrl = await postgres().createDatabase();
      pool = new Pool({ connectionString: databaseUrl, max: 2 });
      pool.on('error', () => {});
      const env = {
        ...topology.env,
        NODE_OPTIONS: SOURCE_NODE_OPTIONS,
        LOG_LEVEL: process.env.LEADERBOARD_TEST_LOG ?? 'silent',
        DATABASE_URL: databaseUrl,
        REDIS_KEY_PREFIX: uniquePrefix('lb'),
        LEADERBOARD_TEST_CLOCK_FILE: clockFile,
        LEADERBOARD_ARCHIVE_INTERVAL_MS: '50',
        LEADERBOARD_ARCHIVE_DELAY_MS: '1000',
        LEADERBOARD_WEBHOOK_INTERVAL_MS: '50',
        LEADERBOARD_WEBHOOK_TIMEOUT_MS: '1000',
        LEADERBOARD_WEBHOOK_BACKOFF_MS: '100',
        LEADERBOARD_WEBHOOK_MAX_BACKOFF_MS: '1000',
      };
      // One after the other: the first runs the migrations, and compiling three at once on 2
      // shared cores outlasts the readiness wait.
      for (let i = 0; i < 3; i += 1) {
        processes.push(
          await startServiceProcess(require.resolve('./clocked-server.ts'), env, 60_000),
        );
      }
    }, 240_000);

    afterAll(async () => {
      await Promise.all(processes.map((p) => p.stop().catch(() => null)));
      processes = [];
      await pool?.end();
      await topology?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('delivers each period exactly once (by idempotency key) across a replica SIGKILL mid-delivery', async () => {
      // Holds the first request open (the replica that sent it is killed), acknowledges the rest.
      const receiver = await startReceiver((_, seen) => (seen.length === 1 ? null : 200));
      try {
        const config = {
          sort: 'asc',
          operator: 'best',
          reset: '0 0 * * *',
          webhook: { url: receiver.url },
        };
        expect(
          (
            await httpCall<Reply>(processes[0].url, 'PUT', '/leaderboards/killcup', {
              body: config,
            })
          ).status,
        ).toBe(200);
        for (let i = 0; i < 12; i += 1) {
          const answer = await httpCall<Reply>(
            processes[i % 3].url,
            'POST',
            '/leaderboards/killcup/scores',
            {
              body: {
                playerId: `p${i}`,
                score: 1000 + ((i * 7) % 12),
              },
            },
          );
          expect(answer.status).toBe(200);
        }
        setClock('2026-11-27T00:00:02Z');
        await until(
          'the first attempt arrived',
          async () => receiver.held.length === 1 || undefined,
          20_000,
        );
        const lease = await pool.query<{ leased_by: string }>(
          "SELECT leased_by FROM lb_webhooks WHERE board = 'killcup'",
        );
        const pid = Number(lease.rows[0].leased_by.split(':').pop());
        const victim = processes.find((p) => p.child.pid === pid);
        expect(victim).toBeDefined();
        await victim!.stop('SIGKILL');
        processes = processes.filter((p) => p !== victim);

        const delivered = await until(
          'delivered by a surviving replica',
          async () => {
            const row = await pool.query<{
              attempts: number;
              delivered_at: Date | null;
              leased_by: string;
            }>("SELECT attempts, delivered_at, leased_by FROM lb_webhooks WHERE board = 'killcup'");
            return row.rows[0]?.delivered_at ? row.rows[0] : undefined;
          },
          20_000,
        );
        expect(delivered.attempts).toBeGreaterThanOrEqual(2);
        expect(delivered.leased_by).not.toBe(lease.rows[0].leased_by);
        // The survivors keep looking every 50 ms: nothing more comes once acknowledged.
        await receiver.deliveries.exactly(receiver.seen.length, { quietMs: 1500 });
        // One idempotency key: the receiver keeps exactly one delivery of the period.
        expect(distinctKeys(receiver.seen)).toHaveLength(1);
        const acknowledged = receiver.seen.slice(1);
        expect(acknowledged.length).toBeGreaterThanOrEqual(1);
        const archived = await httpCall<Reply>(
          processes[0].url,
          'GET',
          '/leaderboards/killcup/periods/20261126T0000Z/top?limit=10',
        );
        expect(acknowledged[0].body.entries).toEqual(archived.body.entries);
        // asc: the lowest score first; the archive is the final standings of the period.
        expect(archived.body.entries!.map((e) => e.score)).toEqual(
          [...Array(12).keys()].map((i) => 1000 + i).slice(0, 10),
        );
      } finally {
        await receiver.close();
      }
    }, 90_000);
  });
});
