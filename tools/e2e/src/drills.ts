// Fault drills: a steady mixed load through the gateway, one fault, then a check of every
// acknowledged write. Used by `npm run drills` (full size) and by the Jest suite (reduced size).
// On standalone Redis the faults are service replicas, Redis and PostgreSQL; on Sentinel and
// Cluster they are the Redis master's: a forced failover, a crash and a partition.
import { delay, type FailoverResult } from '@redis-patterns/testkit';
import { hasExited, type Cluster, type Instance, type TopologyKind } from '../../dev/cluster';
import { MixedLoad, type LoadEvent, type Op, type Verification } from './mixed-load';
import { stopInstance } from './test-cluster';

export type StandaloneDrillKind =
  'kill' | 'term' | 'redis-pause' | 'redis-restart' | 'postgres-pause';
export type FailoverDrillKind = 'failover' | 'crash' | 'partition';
export type DrillKind = StandaloneDrillKind | FailoverDrillKind;

/** The drills on standalone Redis. */
export const DRILLS: { kind: StandaloneDrillKind; title: string }[] = [
  { kind: 'kill', title: 'SIGKILL one replica of every service' },
  { kind: 'term', title: 'SIGTERM one replica of every service (graceful drain)' },
  { kind: 'redis-pause', title: 'Redis SIGSTOP 5 s, then SIGCONT' },
  { kind: 'redis-restart', title: 'Redis restarted empty' },
  { kind: 'postgres-pause', title: 'PostgreSQL SIGSTOP 5 s, then SIGCONT' },
];

/** The drills on a topology with replicas (Sentinel, Cluster). */
export const FAILOVER_DRILLS: { kind: FailoverDrillKind; title: string }[] = [
  { kind: 'failover', title: 'Forced failover of the master' },
  { kind: 'crash', title: 'Master SIGKILL (crash failover), back 5 s later as a replica' },
  {
    kind: 'partition',
    title: 'Master partitioned (SIGSTOP) while a replica is promoted, healed 5 s after the fault',
  },
];

/** The drills that run on `topology`. */
export function drillsFor(topology: TopologyKind): { kind: DrillKind; title: string }[] {
  return topology === 'standalone' ? DRILLS : FAILOVER_DRILLS;
}

/** A request slower than this counts as affected by the fault (for "first success again"). */
const SLOW_MS = 1000;

export interface DrillSize {
  /** Load before the fault. */
  warmupMs: number;
  /** How long the fault lasts (pauses) or how long killed replicas stay down. */
  faultMs: number;
  /** Load after the fault ended. */
  afterMs: number;
  workers: number;
  thinkMs: number;
}

export const FULL_SIZE: DrillSize = {
  warmupMs: 5000,
  faultMs: 5000,
  afterMs: 15000,
  workers: 8,
  thinkMs: 5,
};
export const REDUCED_SIZE: DrillSize = {
  warmupMs: 2000,
  faultMs: 5000,
  afterMs: 6000,
  workers: 8,
  thinkMs: 20,
};

export interface OpStats {
  sent: number;
  failed: number;
  /** Outcome (HTTP status, `ack`, error code) -> count. */
  outcomes: Record<string, number>;
  maxMs: number;
}

export interface DrillResult {
  kind: DrillKind;
  title: string;
  topology: TopologyKind;
  sent: number;
  failed: number;
  /** `op outcome` -> count of failed requests over the whole drill. */
  failures: Record<string, number>;
  /** Acknowledged writes that are gone although the service promises to keep them. */
  ackedLost: number;
  /** Acknowledged writes gone where the service documents the loss (Redis-only data, emptied). */
  lostAsDocumented: number;
  /** Acknowledged logouts undone: the session answers 200 again. */
  reverted: number;
  /** Reads right after an acknowledged product write that answered an older price. */
  staleReads: number;
  /** Of those, sent after the fault ended. */
  staleAfterFault: number;
  /** From the fault (kills) or its end (pauses, restart) to the last failed request; 0 when none failed after it. */
  recoveryMs: number;
  /**
   * From the fault to the first success again: per operation, the end of the first successful
   * request sent at or after its first failed (or > 1 s) request since the fault; the largest
   * of them. 0 when no request was affected; -1 when an operation never succeeded again.
   */
  backMs: number;
  /** The operation that took longest to succeed again. */
  backOp?: string;
  /** From the fault to the last failed request (any phase). */
  lastFailureMs: number;
  /** Failover drills: from the fault to a replica leading, as testkit measured it. */
  promotedMs?: number;
  /** The last failed request after the reference time (what recovered last). */
  lastFailure?: string;
  /** When the fault began and ended (kills: once the replicas were restarted and ready). */
  faultAt: number;
  faultEnd: number;
  /** Every request, for assertions on time windows. */
  events: LoadEvent[];
  /** Requests sent while the fault lasted, per operation. */
  during: Partial<Record<Op, OpStats>>;
  /** Requests sent after the fault ended, per operation. */
  after: Partial<Record<Op, OpStats>>;
  verification: Verification;
  /** Service processes that died without being killed by the drill. */
  crashed: string[];
  relogins: number;
  durationMs: number;
}

function stats(events: LoadEvent[]): Partial<Record<Op, OpStats>> {
  const byOp: Partial<Record<Op, OpStats>> = {};
  for (const event of events) {
    const entry = (byOp[event.op] ??= { sent: 0, failed: 0, outcomes: {}, maxMs: 0 });
    entry.sent += 1;
    if (!event.ok) entry.failed += 1;
    entry.outcomes[event.outcome] = (entry.outcomes[event.outcome] ?? 0) + 1;
    entry.maxMs = Math.max(entry.maxMs, Math.round(event.ms));
  }
  return byOp;
}

/** "Fault -> first success again", per operation, the largest (see `DrillResult.backMs`). */
function firstSuccessAgain(events: LoadEvent[], faultAt: number): { ms: number; op?: string } {
  let worst = { ms: 0, op: undefined as string | undefined };
  const ops = new Set(events.map((e) => e.op));
  for (const op of ops) {
    const mine = events.filter((e) => e.op === op && e.at >= faultAt).sort((a, b) => a.at - b.at);
    const affected = mine.find((e) => !e.ok || e.ms > SLOW_MS);
    if (!affected) continue;
    const success = mine.find((e) => e.ok && e.at >= affected.at);
    const ms = success ? Math.round(success.at + success.ms - faultAt) : Infinity;
    if (ms > worst.ms) worst = { ms, op };
  }
  return { ms: worst.ms === Infinity ? -1 : worst.ms, op: worst.op };
}

/** The replica of every service a drill stops: #1, so the chat members' gateway (#0) stays up. */
function victims(cluster: Cluster): Instance[] {
  return cluster.instances.filter((instance) => instance.index === 1);
}

/** What injecting one fault did, for the drill's figures. */
interface Fault {
  /** When the fault began and ended (kills: once the replicas were restarted and ready). */
  faultAt: number;
  faultEnd: number;
  /** Redis-only writes acknowledged before this were emptied with Redis (0: none). */
  keepFrom: number;
  promotedMs?: number;
  /** The instances the drill stopped itself (not crashes). */
  stopped: Set<Instance>;
}

/** Lets the fault last `faultMs` from `faultAt`, counting what the fault itself took. */
function restOfFault(fault: Fault, size: DrillSize): Promise<void> {
  return delay(Math.max(0, fault.faultAt + size.faultMs - Date.now()));
}

/** Injects the fault `kind` and ends it again; the load keeps running meanwhile. */
async function injectFault(
  cluster: Cluster,
  kind: DrillKind,
  size: DrillSize,
  faultKey: string,
  log: (line: string) => void,
): Promise<Fault> {
  const fault: Fault = { faultAt: Date.now(), faultEnd: 0, keepFrom: 0, stopped: new Set() };
  const topology = cluster.topology;
  const needTopology = () => {
    if (!topology?.hasReplicas) {
      throw new Error(
        `the ${kind} drill needs a Redis topology with replicas (--redis=sentinel|cluster)`,
      );
    }
    return topology;
  };
  const promoted = (result: FailoverResult) => {
    fault.promotedMs = result.promotedMs;
    log(`  ${kind}: ${result.newMaster.port} promoted in ${result.promotedMs} ms`);
  };
  switch (kind) {
    case 'kill':
    case 'term': {
      const targets = victims(cluster);
      for (const instance of targets) fault.stopped.add(instance);
      const signal = kind === 'kill' ? 'SIGKILL' : 'SIGTERM';
      await Promise.all(targets.map((instance) => stopInstance(instance, signal, 15000)));
      await restOfFault(fault, size);
      await Promise.all(targets.map((instance) => cluster.restart(instance)));
      break;
    }
    case 'redis-pause':
      await cluster.redis?.pause();
      await delay(size.faultMs);
      await cluster.redis?.resume();
      break;
    case 'redis-restart':
      await cluster.redis?.kill();
      await cluster.redis?.start();
      break;
    case 'postgres-pause':
      await cluster.postgres?.pause();
      await delay(size.faultMs);
      await cluster.postgres?.resume();
      break;
    case 'failover':
      promoted(await needTopology().failover(faultKey));
      break;
    case 'crash': {
      const result = await needTopology().killMaster(faultKey);
      promoted(result);
      await restOfFault(fault, size);
      await result.restart();
      break;
    }
    case 'partition': {
      const result = await needTopology().partitionMaster(faultKey);
      promoted(result);
      await restOfFault(fault, size);
      await result.heal();
      break;
    }
  }
  fault.faultEnd = Date.now();
  if (kind === 'redis-restart') fault.keepFrom = fault.faultEnd;
  return fault;
}

/** Runs one drill against a running cluster (which it leaves running and whole). */
export async function runDrill(
  cluster: Cluster,
  kind: DrillKind,
  size: DrillSize,
  log: (line: string) => void = () => undefined,
): Promise<DrillResult> {
  const title = [...DRILLS, ...FAILOVER_DRILLS].find((d) => d.kind === kind)?.title ?? kind;
  const started = Date.now();
  const gateways = cluster.instances.filter((i) => i.service === 'gateway-ratelimit');
  const load = new MixedLoad({
    gatewayUrls: gateways.map((g) => g.url),
    workers: size.workers,
    thinkMs: size.thinkMs,
  });
  let fault: Fault = { faultAt: 0, faultEnd: 0, keepFrom: 0, stopped: new Set() };
  try {
    await load.setup();
    load.start();
    await delay(size.warmupMs);
    log(`  ${kind}: fault at +${((Date.now() - started) / 1000).toFixed(1)} s`);
    fault = await injectFault(cluster, kind, size, load.faultKey, log);
    log(`  ${kind}: fault over at +${((Date.now() - started) / 1000).toFixed(1)} s`);
    await delay(size.afterMs);
  } finally {
    await load.stop();
  }
  // Read back only once every node is in sync again: a demoted master's full resync is what
  // discards the writes it acknowledged after the promotion.
  if (cluster.topology?.hasReplicas) await cluster.topology.converged();
  const verification = await load.verify(5000, fault.keepFrom);
  load.close();
  return {
    kind,
    title,
    topology: cluster.topologyKind,
    ...figures(kind, load, fault, verification),
    events: load.events,
    during: stats(load.between(fault.faultAt, fault.faultEnd)),
    after: stats(load.between(fault.faultEnd)),
    verification,
    crashed: cluster.instances
      .filter((instance) => !fault.stopped.has(instance) && hasExited(instance.child))
      .map((instance) => `${instance.service}#${instance.index}`),
    relogins: load.relogins,
    durationMs: Date.now() - started,
  };
}

/** The drill's counts and times, from the load's events and read-back. */
function figures(kind: DrillKind, load: MixedLoad, fault: Fault, verification: Verification) {
  const { faultAt, faultEnd } = fault;
  const failedEvents = load.events.filter((e) => !e.ok);
  const failures: Record<string, number> = {};
  for (const event of failedEvents) {
    const key = `${event.op} ${event.outcome}`;
    failures[key] = (failures[key] ?? 0) + 1;
  }
  const reference = kind === 'kill' || kind === 'term' ? faultAt : faultEnd;
  const last = failedEvents.reduce<LoadEvent | undefined>(
    (latest, e) => (!latest || e.at > latest.at ? e : latest),
    undefined,
  );
  const lastFailure = last?.at ?? 0;
  // Scores and chat history are recorded in PostgreSQL and rebuilt after a Redis wipe (their
  // READMEs promise it): any of them missing is acknowledged-and-lost. Only sessions live in
  // Redis alone, so only logins lost with a wiped Redis are lost as documented.
  const ackedLost =
    verification.scoresLostBeforeKeep +
    verification.chatLostBeforeKeep +
    verification.reservationsLost +
    verification.stockMismatch +
    verification.productWritesLost +
    verification.scoresLost +
    verification.chatLost +
    verification.loginsLost;
  const back = firstSuccessAgain(load.events, faultAt);
  return {
    sent: load.events.length,
    failed: failedEvents.length,
    failures,
    ackedLost,
    lostAsDocumented: verification.loginsLostBeforeKeep,
    reverted: verification.logoutsReverted,
    staleReads: verification.productStaleReads,
    staleAfterFault: verification.productStaleAt.filter((at) => at >= faultEnd).length,
    recoveryMs: Math.max(0, lastFailure - reference),
    backMs: back.ms,
    backOp: back.op,
    lastFailureMs: last && last.at >= faultAt ? last.at - faultAt : 0,
    promotedMs: fault.promotedMs,
    lastFailure: last && last.at > reference ? `${last.op} ${last.outcome}` : undefined,
    faultAt,
    faultEnd,
  };
}

/** Seconds with one decimal; `never` for -1. */
export function seconds(ms: number): string {
  return ms < 0 ? 'never' : `${(ms / 1000).toFixed(1)} s`;
}

/** The one line a drill prints. */
export function drillLine(result: DrillResult): string {
  const top = Object.entries(result.failures)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([key, count]) => `${key}: ${count}`)
    .join(', ');
  const v = result.verification;
  const lost =
    `acknowledged-and-lost ${result.ackedLost} (logins ${v.loginsLost}/${v.loginsAcked}, ` +
    `scores ${v.scoresLost}/${v.scoresAcked}, messages ${v.chatLost}/${v.chatAcked}, ` +
    `products ${v.productWritesLost}/${v.productWritesAcked}, reservations ${v.reservationsLost}/${v.reservationsAcked})` +
    (result.lostAsDocumented ? ` (+${result.lostAsDocumented} lost as documented)` : '');
  const recovery =
    result.topology === 'standalone'
      ? `recovery ${seconds(result.recoveryMs)}` +
        (result.lastFailure ? ` (last failure: ${result.lastFailure})` : '')
      : `promoted in ${seconds(result.promotedMs ?? 0)}, first success again ${seconds(result.backMs)}` +
        (result.backOp ? ` (${result.backOp})` : '') +
        `, last failure at +${seconds(result.lastFailureMs)}`;
  return (
    `${result.topology} ${result.kind}: sent ${result.sent}, failed ${result.failed}${top ? ` (${top})` : ''}, ` +
    `${lost}, reverted ${result.reverted}/${v.logoutsAcked} logouts, ` +
    `stale reads ${result.staleReads}/${v.productReadbacks}, ${recovery}` +
    (result.crashed.length ? `, CRASHED ${result.crashed.join(' ')}` : '')
  );
}
