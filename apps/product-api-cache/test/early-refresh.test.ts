import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  cacheCall,
  dbQueries,
  describeOnEveryTopology,
  log,
  type Servers,
  startService,
} from './cache-harness';

jest.setTimeout(120_000);

const RESULTS = join(__dirname, '..', '..', '..', 'bench-results');

const TTL_MS = 2000;
const RUN_MS = 10_000;
const READERS = 6;
const HOT = [51];

interface Run {
  beta: number;
  queriesPerKeyPerTtl: number;
  reads: number;
  /** Answers that were not a fresh hit (stale copies, and the refresher's own miss). */
  notHit: number;
  /** notHit / reads: what share of the readers saw an expiry. */
  notHitShare: number;
  notHitPerKeyPerTtl: number;
  p99Ms: number;
}

/** Hot keys read flat out over two replicas for RUN_MS: what PostgreSQL and the readers saw. */
async function hotKeyRun(servers: Servers, beta: number): Promise<Run> {
  const replicas = await startService(2, servers, {
    ttlMs: TTL_MS,
    ttlJitter: 0,
    staleGraceMs: 10_000,
    earlyRefreshBeta: beta,
  });
  try {
    for (const id of HOT) {
      await Promise.all(replicas.urls.map((url) => cacheCall(`${url}/products/${id}`)));
    }
    const before = await dbQueries(replicas.apps, 'product_by_id');
    const started = Date.now();
    const results: Array<{ cache: string | null; ms: number }> = [];
    await Promise.all(
      Array.from({ length: READERS }, async (_, reader) => {
        for (let i = reader; Date.now() - started < RUN_MS; i += 1) {
          const answer = await cacheCall(`${replicas.url(i)}/products/${HOT[reader % HOT.length]}`);
          expect(answer.status).toBe(200);
          results.push({ cache: answer.cache, ms: answer.ms });
        }
      }),
    );
    const queries = (await dbQueries(replicas.apps, 'product_by_id')) - before;
    const ttls = RUN_MS / TTL_MS;
    const notHit = results.filter((r) => r.cache !== 'hit').length;
    const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
    return {
      beta,
      queriesPerKeyPerTtl: Math.round((queries / HOT.length / ttls) * 100) / 100,
      reads: results.length,
      notHit,
      notHitShare: Math.round((notHit / results.length) * 10_000) / 10_000,
      notHitPerKeyPerTtl: Math.round((notHit / HOT.length / ttls) * 100) / 100,
      p99Ms: Math.round(sorted[Math.floor(sorted.length * 0.99)] * 10) / 10,
    };
  } finally {
    await replicas.close();
  }
}

describeOnEveryTopology('probabilistic early refresh (XFetch) on %s', {}, ({ kind, servers }) => {
  it('refreshes a hot key before its TTL, about once per TTL, so fewer readers see it expire', async () => {
    const off = await hotKeyRun(servers(), 0);
    const beta1 = await hotKeyRun(servers(), 1);
    const beta4 = await hotKeyRun(servers(), 4);
    log(
      `${kind} early refresh: off ${JSON.stringify(off)} beta 1 ${JSON.stringify(beta1)} beta 4 ${JSON.stringify(beta4)}`,
    );
    mkdirSync(RESULTS, { recursive: true });
    const path = join(RESULTS, 'product-api-cache-xfetch.json');
    let all: Record<string, unknown> = {};
    try {
      all = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch {
      // first topology of the run
    }
    all[kind] = {
      measuredAt: new Date().toISOString(),
      machineLoad1m: loadavg()[0],
      setup: { ttlMs: TTL_MS, runMs: RUN_MS, readers: READERS, hotKeys: HOT.length, replicas: 2 },
      off,
      beta1,
      beta4,
    };
    writeFileSync(path, `${JSON.stringify(all, null, 2)}\n`);

    // Off: every expiry costs one refresh (the lease) and answers somebody a stale or a miss.
    // A cycle is the TTL plus the refresh and the first read after the expiry, which on a loaded
    // 2-core machine stretches it well past the TTL (0.6 per TTL seen in a CI run here): the
    // floors say "refreshed, and seen to expire"; the ceilings (no stampede) are the property.
    const REFRESHED = 0.5;
    expect(off.queriesPerKeyPerTtl).toBeGreaterThanOrEqual(REFRESHED);
    expect(off.queriesPerKeyPerTtl).toBeLessThanOrEqual(1.5);
    expect(off.notHitPerKeyPerTtl).toBeGreaterThanOrEqual(REFRESHED);
    // On: still about one query per key per TTL (early, not a stampede). How many expiries it
    // hides depends on reads per key × refresh time × beta (README); at this machine's read
    // rate beta 4 must hide most (the runs' read rates differ on a shared machine: shares).
    for (const on of [beta1, beta4]) {
      expect(on.queriesPerKeyPerTtl).toBeGreaterThanOrEqual(REFRESHED);
      expect(on.queriesPerKeyPerTtl).toBeLessThanOrEqual(2);
    }
    expect(beta4.notHitShare).toBeLessThan(off.notHitShare / 2);
  });
});
