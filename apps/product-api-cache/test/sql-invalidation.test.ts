import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { PoolClient } from 'pg';
import { createPool, runMigrations, type ServiceInstance } from '@redis-patterns/service-kit';
import { seedCatalogue } from '../src/catalog/seed-catalogue';
import {
  delay,
  perFileFixture,
  type Replicas,
  type ServiceProcess,
  startServiceProcess,
  uniquePrefix,
  until,
} from '@redis-patterns/testkit';
import {
  cacheCall,
  commandTimeoutMs,
  dbQueries,
  describeOnEveryTopology,
  log,
  type Product,
  servicePerBlock,
  startService,
} from './cache-harness';

jest.setTimeout(300_000);

const SOURCE_SERVER = require.resolve('../src/server.ts');
const SOURCE_NODE_OPTIONS = '--conditions=@redis-patterns/source -r @swc-node/register';
const RESULTS = join(__dirname, '..', '..', '..', 'bench-results');
/** The advisory-lock class of the outbox lease (outbox-invalidator.ts). */
const LEASE_CLASS = 7_311_003;

/** The p-th percentile (0..100) of `values`, nearest rank. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Merges this topology's figures into the artefact the README quotes. */
function record(file: string, kind: string, figures: unknown): void {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, file);
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    // first topology of the run
  }
  all[kind] = { measuredAt: new Date().toISOString(), ...(figures as object) };
  writeFileSync(path, `${JSON.stringify(all, null, 2)}\n`);
}

describeOnEveryTopology(
  'writes that bypass the service, on %s',
  {},
  ({ kind, servers, postgres }) => {
    it('ids become visible in id order', async () => {
      // The transaction that writes first commits last: its outbox row must still come after.
      const first = await servers().pool.connect();
      const second = await servers().pool.connect();
      try {
        await first.query('BEGIN');
        await first.query('UPDATE products SET price_cents = price_cents + 1 WHERE id = 1');
        await second.query('BEGIN');
        await second.query('UPDATE products SET price_cents = price_cents + 1 WHERE id = 2');
        await second.query('COMMIT');
        await first.query('COMMIT');
      } finally {
        first.release();
        second.release();
      }
      const { rows } = await servers().pool.query<{ product: string }>(
        `SELECT CASE WHEN 'p-1' = ANY(groups) THEN 'p-1' ELSE 'p-2' END AS product
         FROM cache_outbox WHERE 'p-1' = ANY(groups) OR 'p-2' = ANY(groups)
        ORDER BY id DESC LIMIT 2`,
      );
      // Newest first: the late committer's row is the newer one.
      expect(rows.map((row) => row.product)).toEqual(['p-1', 'p-2']);
    });

    describe('the wake-up', () => {
      // A poll a minute apart: only the NOTIFY of the commit can bring a change in time.
      const replicas = servicePerBlock(2, servers, { l1Enabled: true, outboxPollMs: 60_000 });
      beforeAll(async () => {
        await until(
          'an outbox leader',
          async () =>
            replicas().apps.some((app) => app.outboxInvalidator?.status.leader) || undefined,
          10_000,
        );
      });

      it('NOTIFY wakes the leader: a SQL change reaches both replicas long before the next poll', async () => {
        const id = 41;
        for (const url of replicas().urls) {
          await until(
            'cached',
            async () => (await cacheCall(`${url}/products/${id}`)).cache === 'hit' || undefined,
            5000,
          );
        }
        const { rows } = await servers().pool.query<{ price_cents: number }>(
          'UPDATE products SET price_cents = price_cents + 3, version = version + 1 WHERE id = $1 RETURNING price_cents',
          [id],
        );
        const started = Date.now();
        for (const url of replicas().urls) {
          await until(
            `the change on ${url}`,
            async () =>
              ((await cacheCall(`${url}/products/${id}`)).body as Product).priceCents ===
                rows[0].price_cents || undefined,
            5000,
          );
        }
        expect(Date.now() - started).toBeLessThan(5000);
      });
    });

    describe('the gap rule', () => {
      const keyPrefix = uniquePrefix('pac-gap');
      let lease: PoolClient;
      const replicas = perFileFixture(async (cleanup) => {
        // The test holds the outbox lease: the replicas start as standbys and read nothing.
        lease = await servers().pool.connect();
        cleanup(() => lease.release(true));
        await lease.query('SELECT pg_advisory_lock($1, hashtext($2))', [LEASE_CLASS, keyPrefix]);
        const started = await startService(
          2,
          servers(),
          { l1Enabled: true, outboxPollMs: 50 },
          { keyPrefix },
        );
        cleanup(() => started.close());
        return started;
      });

      it('drops the whole cache when the outbox was pruned past its cursor', async () => {
        const read = (replica: number, id: number) =>
          cacheCall(`${replicas().url(replica)}/products/${id}`);
        for (const id of [31, 32, 33]) {
          await until(
            `product ${id} cached on both`,
            async () =>
              (await Promise.all([read(0, id), read(1, id)])).every((a) => a.cache === 'hit') ||
              undefined,
            5000,
          );
        }
        const { rows } = await servers().pool.query<{ price_cents: number }>(
          'UPDATE products SET price_cents = price_cents + 7, version = version + 1 WHERE id = 31 RETURNING price_cents',
        );
        // Pruned before any replica read it: no cursor can replay the change.
        await servers().pool.query('DELETE FROM cache_outbox');
        expect((await read(0, 31)).body).not.toMatchObject({ priceCents: rows[0].price_cents });
        const queriesBefore = await dbQueries(replicas().apps, 'product_by_id');
        await lease.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LEASE_CLASS, keyPrefix]);

        await until(
          'the gap seen and the cache dropped',
          async () =>
            replicas().apps.some((app) => (app.outboxInvalidator?.status.flushes ?? 0) > 0) ||
            undefined,
          10_000,
        );
        // Untouched, but they could not be proved fresh: dropped from Redis and from both L1
        // tiers (one product per replica: a read refills Redis for the other).
        expect((await read(0, 32)).cache).toBe('miss');
        expect((await read(1, 33)).cache).toBe('miss');
        for (const replica of [0, 1]) {
          expect((await read(replica, 31)).body).toMatchObject({ priceCents: rows[0].price_cents });
        }
        expect(await dbQueries(replicas().apps, 'product_by_id')).toBeGreaterThan(queriesBefore);
        const cursor = await servers().pool.query<{ last_id: string; pruned_through: string }>(
          `SELECT c.last_id, s.pruned_through FROM cache_outbox_cursor c, cache_outbox_state s
          WHERE c.cache = $1`,
          [keyPrefix],
        );
        expect(Number(cursor.rows[0].last_id)).toBeGreaterThanOrEqual(
          Number(cursor.rows[0].pruned_through),
        );
      });
    });

    it('a TRUNCATE of the catalogue drops the whole cache', async () => {
      // A database of its own: the others keep their catalogue.
      const databaseUrl = await postgres().createDatabase();
      const pool = createPool({ url: databaseUrl, poolSize: 2 });
      let replicas: Replicas<ServiceInstance> | undefined;
      try {
        await runMigrations(pool, join(__dirname, '..', 'migrations'));
        await seedCatalogue(pool, 10);
        replicas = await startService(2, { ...servers(), databaseUrl, pool }, { l1Enabled: true });
        const urls = replicas.urls;
        for (const url of urls) {
          await until(
            'cached',
            async () => (await cacheCall(`${url}/products/3`)).cache === 'hit' || undefined,
            5000,
          );
        }
        await pool.query('TRUNCATE products');
        for (const url of urls) {
          await until(
            `the truncation on ${url}`,
            async () => (await cacheCall(`${url}/products/3`)).status === 404 || undefined,
            5000,
          );
        }
        expect(replicas.apps.some((app) => (app.outboxInvalidator?.status.flushes ?? 0) > 0)).toBe(
          true,
        );
      } finally {
        await replicas?.close();
        await pool.end();
      }
    });

    describe('two replica processes, L1 on', () => {
      const UPDATES = 1000;
      const KILL_AT = 300;
      const CUT_AT = 650;
      /** No update may take longer than this to reach every live replica, whatever the phase. */
      const BOUND_MS = 5000;
      const LANES = 4;
      const ids = Array.from({ length: 20 }, (_, i) => 201 + i);
      const categories = ['sql-a', 'sql-b'];
      const processes: ServiceProcess[] = [];
      let env: Record<string, string>;

      beforeAll(async () => {
        env = {
          ...servers().topology.env,
          NODE_OPTIONS: SOURCE_NODE_OPTIONS,
          DATABASE_URL: servers().databaseUrl,
          DATABASE_POOL_SIZE: '4',
          REDIS_KEY_PREFIX: uniquePrefix('pac-sql'),
          REDIS_COMMAND_TIMEOUT_MS: String(commandTimeoutMs(kind)),
          CACHE_L1_ENABLED: 'true',
          CACHE_TTL_MS: '300000',
          // A replica that dies is waited out by the others' evictions for at most this.
          CACHE_MEMBER_HEARTBEAT_MS: '300',
          CACHE_MEMBER_TTL_MS: '1000',
          CACHE_EVICTION_ACK_TIMEOUT_MS: '2000',
          CACHE_OUTBOX_POLL_MS: '500',
        };
        await servers().pool.query(
          `UPDATE products SET category = CASE WHEN id % 2 = 0 THEN 'sql-a' ELSE 'sql-b' END
          WHERE id = ANY($1)`,
          [ids],
        );
        processes.push(
          ...(await Promise.all([0, 1].map(() => startServiceProcess(SOURCE_SERVER, env, 60_000)))),
        );
      }, 120_000);
      afterAll(async () => {
        await Promise.allSettled(processes.map((p) => p.stop('SIGKILL')));
      });

      async function leader(live: ServiceProcess[]): Promise<ServiceProcess> {
        return until(
          'an outbox leader',
          async () => {
            for (const p of live) {
              const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
              if (/^cache_outbox_leader 1$/m.test(text)) return p;
            }
            return undefined;
          },
          10_000,
        );
      }

      /**
       * Polls one replica until `fresh` holds: ms from the commit, -1 past the bound, or null
       * once the replica is no longer live (killed meanwhile).
       */
      async function reached(
        target: ServiceProcess,
        live: () => ServiceProcess[],
        committedAt: number,
        fresh: (url: string) => Promise<boolean>,
      ): Promise<number | null> {
        for (;;) {
          if (await fresh(target.url).catch(() => false)) return performance.now() - committedAt;
          if (!live().includes(target)) return null;
          if (performance.now() - committedAt > BOUND_MS) return -1;
          await delay(5);
        }
      }

      it('every replica serves each of 1,000 SQL updates within the bound, across a replica SIGKILL and a cut of the leader connection', async () => {
        let live = [...processes];
        const lags: Array<{ i: number; phase: string; ms: number }> = [];
        const missed: string[] = [];
        let replacement: Promise<ServiceProcess> | undefined;
        const phaseOf = (i: number) =>
          i >= KILL_AT && i < KILL_AT + 50
            ? 'after replica SIGKILL'
            : i >= CUT_AT && i < CUT_AT + 50
              ? 'after leader connection cut'
              : 'steady';
        let next = 0;
        // Lanes of their own products update side by side (a shared machine is slow): each
        // update is still checked on its own, from its commit, on every live replica.
        const lane = async (laneIds: number[]) => {
          for (let n = 0; ; n += 1) {
            const i = next;
            next += 1;
            if (i >= UPDATES) return;
            if (i === KILL_AT) {
              const victim = await leader(live);
              live = live.filter((p) => p !== victim);
              await victim.stop('SIGKILL');
              replacement = startServiceProcess(SOURCE_SERVER, env, 60_000);
            }
            if (i === KILL_AT + 50 && replacement) {
              const started = await replacement;
              processes.push(started);
              live = [...live, started];
            }
            if (i === CUT_AT) {
              await leader(live);
              const cut = await servers().pool.query(
                `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
                WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2 AND granted
                  AND objid = hashtext($2)::oid`,
                [LEASE_CLASS, env.REDIS_KEY_PREFIX],
              );
              expect(cut.rows).toEqual([{ ok: true }]);
            }
            const id = laneIds[Math.floor(n / 2) % laneIds.length];
            const marker = 100_000 + i;
            let fresh: (url: string) => Promise<boolean>;
            if (n % 2 === 0) {
              // A product: its price.
              await servers().pool.query(
                'UPDATE products SET price_cents = $2, version = version + 1, updated_at = now() WHERE id = $1',
                [id, marker],
              );
              fresh = async (url) => {
                const answer = await cacheCall(`${url}/products/${id}`);
                return (answer.body as Product).priceCents === marker;
              };
            } else {
              // A category: the product moves, both lists change.
              const { rows } = await servers().pool.query<{ category: string }>(
                `UPDATE products SET category = CASE category WHEN 'sql-a' THEN 'sql-b' ELSE 'sql-a' END,
                      price_cents = $2, version = version + 1, updated_at = now()
                WHERE id = $1 RETURNING category`,
                [id, marker],
              );
              const to = rows[0].category;
              const from = categories.find((c) => c !== to) ?? '';
              fresh = async (url) => {
                const [target, source] = await Promise.all(
                  [to, from].map((category) =>
                    cacheCall(`${url}/products?category=${category}&limit=100`),
                  ),
                );
                const has = (answer: typeof target) =>
                  (answer.body as { items: Product[] }).items.find((p) => p.id === id);
                return has(target)?.priceCents === marker && has(source) === undefined;
              };
            }
            const committedAt = performance.now();
            const reaches = await Promise.all(
              live.map((p) => reached(p, () => live, committedAt, fresh)),
            );
            const counted = reaches.filter((ms): ms is number => ms !== null);
            if (counted.includes(-1)) missed.push(`update ${i} (${phaseOf(i)})`);
            else lags.push({ i, phase: phaseOf(i), ms: Math.max(...counted) });
          }
        };
        await Promise.all(
          Array.from({ length: LANES }, (_, l) => lane(ids.filter((_, k) => k % LANES === l))),
        );

        const summary = (phaseName?: string) => {
          const ms = lags.filter((l) => !phaseName || l.phase === phaseName).map((l) => l.ms);
          return {
            updates: ms.length,
            p50Ms: Math.round(percentile(ms, 50) * 10) / 10,
            p99Ms: Math.round(percentile(ms, 99) * 10) / 10,
            maxMs: Math.round(Math.max(...ms) * 10) / 10,
          };
        };
        // The leader's own view: from each commit to the start of its eviction.
        let lagSum = 0;
        let lagCount = 0;
        for (const p of live) {
          const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
          lagSum += Number(/^cache_outbox_lag_seconds_sum (\S+)$/m.exec(text)?.[1] ?? 0);
          lagCount += Number(/^cache_outbox_lag_seconds_count (\S+)$/m.exec(text)?.[1] ?? 0);
        }
        const figures = {
          machineLoad1m: loadavg()[0],
          commitToEvictionStartMeanMs: lagCount
            ? Math.round((lagSum / lagCount) * 10_000) / 10
            : null,
          updates: UPDATES,
          missed: missed.length,
          boundMs: BOUND_MS,
          lanes: LANES,
          outboxPollMs: Number(env.CACHE_OUTBOX_POLL_MS),
          memberTtlMs: Number(env.CACHE_MEMBER_TTL_MS),
          all: summary(),
          steady: summary('steady'),
          afterReplicaSigkill: summary('after replica SIGKILL'),
          afterLeaderConnectionCut: summary('after leader connection cut'),
        };
        log(`${kind} SQL invalidation: ${JSON.stringify(figures)}`);
        record('product-api-cache-sql-invalidation.json', kind, figures);
        expect(missed).toEqual([]);
      });
    });
  },
);
