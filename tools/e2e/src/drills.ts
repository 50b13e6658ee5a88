// Fault drills: a steady mixed load through the gateway, one fault, then a check of every
// acknowledged write. Used by `npm run drills` (full size) and by the Jest suite (reduced size).
import type { Cluster, Instance } from '../../dev/cluster.cjs';
import { MixedLoad, type LoadEvent, type Op, type Verification } from './mixed-load';

export type DrillKind = 'kill' | 'term' | 'redis-pause' | 'redis-restart' | 'postgres-pause';

export const DRILLS: { kind: DrillKind; title: string }[] = [
  { kind: 'kill', title: 'SIGKILL one replica of every service' },
  { kind: 'term', title: 'SIGTERM one replica of every service (graceful drain)' },
  { kind: 'redis-pause', title: 'Redis SIGSTOP 5 s, then SIGCONT' },
  { kind: 'redis-restart', title: 'Redis restarted empty' },
  { kind: 'postgres-pause', title: 'PostgreSQL SIGSTOP 5 s, then SIGCONT' },
];

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
  sent: number;
  failed: number;
  /** `op outcome` -> count of failed requests over the whole drill. */
  failures: Record<string, number>;
  /** Acknowledged writes that are gone although the service promises to keep them. */
  ackedLost: number;
  /** Acknowledged writes gone where the service documents the loss (Redis-only data, emptied). */
  lostAsDocumented: number;
  /** From the fault (kills) or its end (pauses, restart) to the last failed request; 0 when none failed after it. */
  recoveryMs: number;
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

function exited(instance: Instance): boolean {
  return instance.child.exitCode !== null || instance.child.signalCode !== null;
}

function waitExit(instance: Instance, timeoutMs: number): Promise<void> {
  if (exited(instance)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    instance.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The replica of every service a drill stops: #1, so the chat members' gateway (#0) stays up. */
function victims(cluster: Cluster): Instance[] {
  return cluster.instances.filter((instance) => instance.index === 1);
}

/** Runs one drill against a running cluster (which it leaves running and whole). */
export async function runDrill(
  cluster: Cluster,
  kind: DrillKind,
  size: DrillSize,
  log: (line: string) => void = () => undefined,
): Promise<DrillResult> {
  const title = DRILLS.find((d) => d.kind === kind)?.title ?? kind;
  const started = Date.now();
  const gateways = cluster.instances.filter((i) => i.service === 'gateway-ratelimit');
  const load = new MixedLoad({
    gatewayUrls: gateways.map((g) => g.url),
    workers: size.workers,
    thinkMs: size.thinkMs,
  });
  const stopped = new Set<Instance>();
  let faultAt = 0;
  let faultEnd = 0;
  let keepFrom = 0;
  try {
    await load.setup();
    load.start();
    await sleep(size.warmupMs);
    log(`  ${kind}: fault at +${((Date.now() - started) / 1000).toFixed(1)} s`);
    faultAt = Date.now();
    switch (kind) {
      case 'kill':
      case 'term': {
        const targets = victims(cluster);
        for (const instance of targets) {
          stopped.add(instance);
          instance.child.kill(kind === 'kill' ? 'SIGKILL' : 'SIGTERM');
        }
        await Promise.all(targets.map((instance) => waitExit(instance, 15000)));
        await sleep(Math.max(0, faultAt + size.faultMs - Date.now()));
        await Promise.all(targets.map((instance) => cluster.restart(instance)));
        faultEnd = Date.now();
        break;
      }
      case 'redis-pause': {
        cluster.redis?.pause();
        await sleep(size.faultMs);
        cluster.redis?.resume();
        faultEnd = Date.now();
        break;
      }
      case 'redis-restart': {
        await cluster.redis?.kill();
        await cluster.redis?.start();
        faultEnd = Date.now();
        keepFrom = faultEnd;
        break;
      }
      case 'postgres-pause': {
        cluster.postgres?.pause();
        await sleep(size.faultMs);
        cluster.postgres?.resume();
        faultEnd = Date.now();
        break;
      }
    }
    log(`  ${kind}: fault over at +${((Date.now() - started) / 1000).toFixed(1)} s`);
    await sleep(size.afterMs);
  } finally {
    await load.stop();
  }
  const verification = await load.verify(5000, keepFrom);
  load.close();

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
  const crashed = cluster.instances
    .filter((instance) => !stopped.has(instance) && exited(instance))
    .map((instance) => `${instance.service}#${instance.index}`);
  const documented = verification.scoresLostBeforeKeep + verification.chatLostBeforeKeep;
  const ackedLost =
    verification.reservationsLost +
    verification.stockMismatch +
    verification.productWritesLost +
    verification.scoresLost +
    verification.chatLost;
  return {
    kind,
    title,
    sent: load.events.length,
    failed: failedEvents.length,
    failures,
    ackedLost,
    lostAsDocumented: documented,
    recoveryMs: Math.max(0, lastFailure - reference),
    lastFailure: last && last.at > reference ? `${last.op} ${last.outcome}` : undefined,
    faultAt,
    faultEnd,
    events: load.events,
    during: stats(load.between(faultAt, faultEnd)),
    after: stats(load.between(faultEnd)),
    verification,
    crashed,
    relogins: load.relogins,
    durationMs: Date.now() - started,
  };
}

/** The one line a drill prints. */
export function drillLine(result: DrillResult): string {
  const top = Object.entries(result.failures)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([key, count]) => `${key}: ${count}`)
    .join(', ');
  return (
    `${result.kind}: sent ${result.sent}, failed ${result.failed}${top ? ` (${top})` : ''}, ` +
    `acknowledged-and-lost ${result.ackedLost}` +
    (result.lostAsDocumented ? ` (+${result.lostAsDocumented} lost as documented)` : '') +
    `, recovery ${(result.recoveryMs / 1000).toFixed(1)} s` +
    (result.lastFailure ? ` (last failure: ${result.lastFailure})` : '') +
    (result.crashed.length ? `, CRASHED ${result.crashed.join(' ')}` : '')
  );
}
