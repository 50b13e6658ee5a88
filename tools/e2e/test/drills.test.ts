// Drills 1-3 at reduced size (the full size is `npm run drills`). Each asserts what the services'
// issues promise; where a service does not keep a promise the test says so in its name and pins
// the behaviour actually observed, so a change in either direction is noticed.
import { perFileFixture, type TopologyKind } from '@redis-patterns/testkit';
import {
  FAILOVER_DRILLS,
  REDUCED_SIZE,
  drillLine,
  runDrill,
  type DrillResult,
} from '../src/drills';
import type { LoadEvent, Op } from '../src/mixed-load';
import { startTestCluster, waitAllReady } from '../src/test-cluster';

/** Idempotent requests: the gateway retries them on another replica even after a reset socket. */
const READS = new Set<Op>(['product.read', 'auth.me', 'leaderboard.top']);

function failuresOf(result: DrillResult, filter: (e: LoadEvent) => boolean): LoadEvent[] {
  return result.events.filter((e) => !e.ok && filter(e));
}

function outcomesDuring(result: DrillResult, op: Op): string[] {
  return Object.keys(result.during[op]?.outcomes ?? {});
}

describe('fault drills under a mixed load through the gateway (reduced size)', () => {
  const system = perFileFixture(
    async (cleanup) => {
      const cluster = await startTestCluster();
      cleanup(() => cluster.close());
      return cluster;
    },
    { timeoutMs: 180_000 },
  );

  afterEach(async () => {
    await waitAllReady(system(), 60_000);
  }, 70_000);

  it('1. SIGKILL one replica of every service: reads recover at once, nothing acknowledged is lost', async () => {
    const result = await runDrill(system(), 'kill', REDUCED_SIZE);
    process.stdout.write(`${drillLine(result)}\n`);
    expect(result.crashed).toEqual([]);
    expect(result.ackedLost).toBe(0);
    expect(result.reverted).toBe(0);
    expect(result.staleReads).toBe(0);
    expect(result.verification.chatUndelivered).toBe(0);
    // Bodiless requests are retried by the gateway on the surviving replica: past the requests
    // in flight at the kill (1 s window), no read fails.
    expect(failuresOf(result, (e) => READS.has(e.op) && e.at > result.faultAt + 1000)).toEqual([]);
    // Once the killed replicas are back, nothing fails.
    expect(failuresOf(result, (e) => e.at > result.faultEnd + 1000)).toEqual([]);
    // The gateway replays a request refused by the dead replica on a live one, whatever its
    // method, so past the requests in flight at the kill the only refusals allowed are
    // inventory-lock's: a lock held by the killed replica blocks its sku until the lock TTL
    // (3 s) lapses, and reservations there get 503 LOCK_NOT_ACQUIRED meanwhile.
    for (const e of failuresOf(result, (ev) => ev.at > result.faultAt + 1000)) {
      const lockWait = e.op === 'inventory.reserve' && e.at < result.faultAt + 3000 + 4000;
      expect([e.op, e.outcome]).toEqual([
        e.op,
        lockWait && e.outcome === '503 LOCK_NOT_ACQUIRED' ? e.outcome : 'no failure',
      ]);
    }
  }, 150_000);

  it('2. SIGTERM one replica of every service: graceful drain: at most the stated keep-alive races fail, nothing acknowledged lost', async () => {
    const result = await runDrill(system(), 'term', REDUCED_SIZE);
    process.stdout.write(`${drillLine(result)}\n`);
    expect(result.crashed).toEqual([]);
    expect(result.ackedLost).toBe(0);
    expect(result.reverted).toBe(0);
    expect(result.staleReads).toBe(0);
    expect(result.verification.chatUndelivered).toBe(0);
    // Stopping replicas finish their in-flight requests (Connection: close on those responses),
    // and the gateway replays refused requests and retries reads on a socket a stopping replica
    // closed. Full-size runs measured 0 and 2 failed of ~16,000 requests. Two races are left and
    // stated: a write sent on a pooled keep-alive socket at the instant its replica closes it may
    // have arrived, so it is answered 502 rather than replayed; and the load generator talks to
    // each gateway replica directly (no load balancer to retry), so a request it sends on a
    // keep-alive socket the stopping gateway is closing is reset.
    // A request that reaches an upstream replica after its close began is answered 503
    // SHUTTING_DOWN (service-kit) and replayed by the gateway to another replica, so it never
    // reaches the client; one that reaches a stopping gateway gets that 503 itself, which the
    // load generator, as a load balancer would, sends to the other gateway replica. For a second
    // before close (SHUTDOWN_DELAY_MS, as in k8s) every answer closes its keep-alive socket, so
    // close finds few pooled sockets to cut.
    const failed = failuresOf(result, () => true);
    for (const e of failed) {
      const allowed = READS.has(e.op)
        ? ['ECONNRESET', 'UND_ERR_SOCKET', '503 SHUTTING_DOWN']
        : ['502 BAD_GATEWAY', 'ECONNRESET', 'UND_ERR_SOCKET', '503 SHUTTING_DOWN'];
      expect(allowed).toContain(e.outcome);
    }
    // How many: these races come with every keep-alive socket open at the stop, so they scale
    // with the load. Reduced runs here failed 1-5 requests of 3,000-4,000 (a clean-clone CI run:
    // 4 of 2,964, then 5 of 3,942, every one of the kinds above): at most 0.25% of those sent.
    expect(failed.length).toBeLessThanOrEqual(Math.max(3, Math.ceil(result.sent * 0.0025)));
    expect(failuresOf(result, (e) => e.at > result.faultEnd + 1000)).toEqual([]);
  }, 150_000);

  it('3. Redis SIGSTOP 5 s: each service degrades as promised, nothing hangs, all recover after SIGCONT', async () => {
    const result = await runDrill(system(), 'redis-pause', REDUCED_SIZE);
    process.stdout.write(`${drillLine(result)}\n`);
    expect(result.crashed).toEqual([]);
    expect(result.ackedLost).toBe(0);
    // chat: every acknowledged message reaches the member on the other replica after the resync.
    expect(result.verification.chatUndelivered).toBe(0);
    expect(result.verification.chatDuplicates).toBe(0);
    // product-api-cache: reads bypass the cache and keep answering from PostgreSQL; a write
    // whose cache invalidation cannot be confirmed answers 503 (saved or not, as its code
    // says), never a success that a replica's cache would then contradict.
    expect(outcomesDuring(result, 'product.read')).toEqual(['200']);
    for (const outcome of outcomesDuring(result, 'product.write'))
      expect([
        '200',
        '503 REDIS_UNAVAILABLE',
        '503 CACHE_INVALIDATION_PENDING',
        '503 EVICTION_NOT_CONFIRMED',
      ]).toContain(outcome);
    expect(result.staleReads).toBe(0);
    expect(result.reverted).toBe(0);
    // auth-session: fails closed with 503, never a guess (no 401 for a valid session).
    expect(outcomesDuring(result, 'auth.me')).toContain('503 SESSION_STORE_UNAVAILABLE');
    for (const outcome of outcomesDuring(result, 'auth.me'))
      expect(['200', '503 SESSION_STORE_UNAVAILABLE']).toContain(outcome);
    // inventory-lock: the lock refuses (503), nothing is reserved without it.
    for (const outcome of outcomesDuring(result, 'inventory.reserve'))
      expect(outcome === '201' || outcome.startsWith('503')).toBe(true);
    // game-leaderboard: 503.
    for (const op of ['leaderboard.score', 'leaderboard.top'] as Op[])
      for (const outcome of outcomesDuring(result, op))
        expect(outcome === '200' || outcome.startsWith('503')).toBe(true);
    // gateway: the default policy fails open, so no request is refused by the limiter itself;
    // the login route's policy fails closed (503 RATE_LIMIT_UNAVAILABLE).
    expect(
      result.events.filter((e) => e.op !== 'auth.login' && e.outcome.includes('RATE_LIMIT')),
    ).toEqual([]);
    for (const outcome of outcomesDuring(result, 'auth.login'))
      expect(['200', '503 RATE_LIMIT_UNAVAILABLE']).toContain(outcome);
    expect(outcomesDuring(result, 'auth.login')).toContain('503 RATE_LIMIT_UNAVAILABLE');
    // Nothing hangs: every answer within the command timeout (500 ms) plus generous slack.
    for (const stats of Object.values(result.during)) expect(stats.maxMs).toBeLessThan(3000);
    // Everything recovers within 5 s of SIGCONT.
    expect(result.recoveryMs).toBeLessThan(5000);
  }, 150_000);
});

// The master's failover drills (`npm run drills -- --redis=sentinel|cluster` at full size) are
// opt-in here, to keep `npm test` short: E2E_FAILOVER_DRILLS=sentinel,cluster (about 70 s each).
const failoverTopologies = (process.env.E2E_FAILOVER_DRILLS ?? '')
  .split(',')
  .map((kind) => kind.trim())
  .filter(Boolean) as TopologyKind[];

if (failoverTopologies.length > 0) {
  describe.each(failoverTopologies)('failover drills on %s (reduced size)', (topology) => {
    const system = perFileFixture(
      async (cleanup) => {
        const cluster = await startTestCluster({ topology });
        cleanup(() => cluster.close());
        return cluster;
      },
      { timeoutMs: 180_000 },
    );

    afterEach(async () => {
      await system().topology?.converged();
      await waitAllReady(system(), 60_000);
    }, 70_000);

    it.each(FAILOVER_DRILLS.map((d) => [d.kind, d.title] as const))(
      '%s (%s): nothing acknowledged is lost or undone, every failure is an error answer, and every operation succeeds again',
      async (kind) => {
        const result = await runDrill(system(), kind, REDUCED_SIZE);
        process.stdout.write(`${drillLine(result)}\n`);
        expect(result.crashed).toEqual([]);
        expect(result.ackedLost).toBe(0);
        expect(result.reverted).toBe(0);
        expect(result.staleReads).toBe(0);
        expect(result.verification.chatUndelivered).toBe(0);
        expect(result.backMs).toBeGreaterThanOrEqual(0);
        expect(failuresOf(result, (e) => e.at > result.faultEnd + 5000)).toEqual([]);
      },
      150_000,
    );
  });
}
