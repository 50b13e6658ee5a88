import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  delay,
  type Replicas,
  replicatedTopologiesUnderTest,
  type TopologyKind,
  until,
} from '@redis-patterns/testkit';
import { productGroup } from '../src/cache/cache-keys';
import {
  cacheCall,
  log,
  postgresPerFile,
  type Product,
  productInput,
  serversPerBlock,
  startService,
  versionOf,
} from './cache-harness';

/** A read that started after a write of a newer version had been acknowledged. */
interface StaleRead {
  id: number;
  acknowledged: number;
  served: number;
  cache: string | null;
  afterAckMs: number;
}

const IDS = Array.from({ length: 24 }, (_, i) => 101 + i);
const replicated = replicatedTopologiesUnderTest();

const postgres = postgresPerFile();

const suite = describe.each<TopologyKind>(replicated);

/**
 * `kill`: SIGKILL the master of the eviction registry, restart it 3 s after the promotion.
 * `failover`: a forced Sentinel failover (SENTINEL FAILOVER), the old master demoted later.
 */
type Fault = 'kill' | 'failover';

suite('the master of the eviction registry failing under load on %s', (kind) => {
  const servers = serversPerBlock(kind, postgres, { failureDetectionMs: 1000 });
  let replicas: Replicas<ServiceInstance>;
  afterEach(async () => {
    await replicas?.close();
  });

  const faults: Fault[] = kind === 'sentinel' ? ['kill', 'failover'] : ['kill'];
  it.each(faults)(
    '%s: no acknowledged invalidation lost, no stale read during or after',
    async (fault) => {
      // Acknowledged invalidations alone: the outbox would replay one a failover lost.
      replicas = await startService(2, servers(), { l1Enabled: true, outboxEnabled: false });
      const keys = replicas.apps[0].cacheKeys;
      const registry = keys.members;
      const victim = await servers().topology.master(registry);
      let onVictim = 0;
      for (const id of IDS) {
        const owner = await servers().topology.master(keys.index(productGroup(id)));
        if (owner === victim) onVictim += 1;
      }
      // On a Cluster some products must live on the master that dies, not only the registry.
      expect(onVictim).toBeGreaterThan(0);

      const products = new Map<number, Product>();
      for (const id of IDS) {
        for (const url of replicas.urls) {
          const answer = await cacheCall(`${url}/products/${id}`);
          products.set(id, answer.body as Product);
        }
      }

      /** The newest acknowledged version of each product, and when its 200 arrived. */
      const acknowledged = new Map<number, { version: number; at: number }>();
      const writeCodes = new Map<string, number>();
      const wrongWrites: string[] = [];
      let writesSent = 0;
      let lastFailedWriteAt = 0;
      let firstFailedWriteAt = 0;
      const stale: StaleRead[] = [];
      const readFailures: string[] = [];
      let readsSent = 0;
      let slowestReadMs = 0;
      let running = true;
      let killedAt = Number.POSITIVE_INFINITY;
      let firstOkAfterKill = 0;

      const writer = async (w: number) => {
        for (let n = 0; running; n += 1) {
          const id = IDS[(w * 7 + n) % IDS.length];
          const product = products.get(id) as Product;
          writesSent += 1;
          let answer;
          try {
            answer = await cacheCall(`${replicas.url(w)}/products/${id}`, {
              method: 'PUT',
              body: productInput(product.sku, { name: `w${w}-${n}`, category: product.category }),
            });
          } catch (error) {
            wrongWrites.push(`PUT ${id}: ${(error as Error).message}`);
            continue;
          }
          const at = performance.now();
          if (answer.status === 200) {
            const version = versionOf(answer.etag);
            const known = acknowledged.get(id);
            if (!known || known.version < version) acknowledged.set(id, { version, at });
            if (at > killedAt && !firstOkAfterKill) firstOkAfterKill = at;
          } else if (answer.status === 503) {
            const { code } = answer.body as { code: string };
            writeCodes.set(code, (writeCodes.get(code) ?? 0) + 1);
            firstFailedWriteAt ||= at;
            lastFailedWriteAt = at;
          } else {
            wrongWrites.push(`PUT ${id}: ${answer.status} ${JSON.stringify(answer.body)}`);
          }
        }
      };
      const reader = async (r: number) => {
        for (let n = 0; running; n += 1) {
          const id = IDS[(r * 5 + n * 11) % IDS.length];
          const startedAt = performance.now();
          const before = acknowledged.get(id);
          readsSent += 1;
          const answer = await cacheCall(`${replicas.url(r)}/products/${id}`).catch(
            (error: Error) => ({
              status: 0,
              etag: null,
              cache: null,
              ms: 0,
              body: error.message,
            }),
          );
          slowestReadMs = Math.max(slowestReadMs, answer.ms);
          if (answer.status !== 200) {
            readFailures.push(`GET ${id}: ${answer.status}`);
            continue;
          }
          const served = versionOf(answer.etag);
          if (before && served < before.version) {
            stale.push({
              id,
              acknowledged: before.version,
              served,
              cache: answer.cache,
              afterAckMs: startedAt - before.at,
            });
          }
        }
      };
      const load = Promise.all([writer(0), writer(1), reader(0), reader(1), reader(2), reader(3)]);
      // However this attempt ends, its load stops with it: loops left running by a failed
      // attempt would write the next attempt's products (through its replicas, which reuse the
      // describe's variable) and make its after-recovery reads look stale (seen in a CI run).
      try {
        await until('writes acknowledged before the fault', async () =>
          acknowledged.size >= 10 ? true : undefined,
        );
        killedAt = performance.now();
        const killed =
          fault === 'kill'
            ? await servers().topology.killMaster(registry)
            : { ...(await servers().topology.failover(registry)), restart: async () => {} };
        // On a Cluster the promoted node has no replica until the old master rejoins as one, so
        // what lives on its shard cannot be acknowledged meanwhile (WAIT 1): honest 503s.
        await delay(3000);
        const restartedAt = performance.now();
        await killed.restart();
        await servers().topology.converged();
        const rejoinedMs = performance.now() - restartedAt;
        // Keep the load on until every product has been written with a 200 again.
        const convergedAt = performance.now();
        await until(
          'every product acknowledged again after the recovery',
          async () =>
            [...acknowledged.values()].filter((ack) => ack.at > convergedAt).length === IDS.length
              ? true
              : undefined,
          45_000,
        );
        running = false;
        await load;
        // Writes answered 503 while Redis was away are retried by their replica until Redis takes them.
        await until(
          'every deferred invalidation retried',
          async () =>
            replicas.apps.every((app) => app.productCache.pendingGroups.length === 0)
              ? true
              : undefined,
          20_000,
        );
        await until(
          'both replicas registered again',
          async () => (replicas.apps.every((app) => app.evictionChannel?.live) ? true : undefined),
          20_000,
        );

        // After recovery every replica serves what PostgreSQL holds, for every product.
        const { rows } = await servers().pool.query<{ id: string; version: string }>(
          'SELECT id, version FROM products WHERE id = ANY($1)',
          [IDS],
        );
        let staleAfter = 0;
        let readsAfter = 0;
        for (const row of rows) {
          const id = Number(row.id);
          const version = Number(row.version);
          expect(version).toBeGreaterThanOrEqual(acknowledged.get(id)?.version ?? 0);
          for (let i = 0; i < 6; i += 1) {
            const answer = await cacheCall(`${replicas.url(i)}/products/${id}`);
            readsAfter += 1;
            if (versionOf(answer.etag) !== version) staleAfter += 1;
          }
        }

        const acknowledgedWrites =
          writesSent - wrongWrites.length - [...writeCodes.values()].reduce((a, b) => a + b, 0);
        log(
          `${kind} ${fault === 'kill' ? 'SIGKILL' : 'forced failover'} of the registry master :${killed.oldMaster.port} (${onVictim}/${IDS.length} products on it): promoted in ${killed.promotedMs} ms, old master a replica again ${Math.round(rejoinedMs)} ms after ${fault === 'kill' ? 'its restart' : 'the 3 s hold'} (3 s after the promotion); ` +
            `${writesSent} PUTs: ${acknowledgedWrites} acknowledged, 503 ${JSON.stringify(Object.fromEntries(writeCodes))}, wrong ${wrongWrites.length}; ` +
            `503s from +${Math.round(firstFailedWriteAt - killedAt)} to +${Math.round(lastFailedWriteAt - killedAt)} ms; first 200 after the kill at +${Math.round(firstOkAfterKill - killedAt)} ms; ` +
            `${readsSent} reads during: ${stale.length} stale, ${readFailures.length} failed, slowest ${Math.round(slowestReadMs)} ms; ` +
            `after recovery ${readsAfter} reads: ${staleAfter} stale`,
        );
        expect(wrongWrites).toEqual([]);
        expect(readFailures).toEqual([]);
        expect(stale).toEqual([]);
        expect(staleAfter).toBe(0);
        expect(acknowledgedWrites).toBeGreaterThan(30);
      } finally {
        running = false;
        await load.catch(() => undefined);
      }
    },
    120_000,
  );
});
