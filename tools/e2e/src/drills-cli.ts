// `npm run drills [-- --redis=standalone|sentinel|cluster]`: every fault drill of that Redis
// topology at full size against one local system, one line each, then its section of
// docs/drills.md (the other topologies' sections are kept). Standalone: service replicas killed
// and stopped, Redis paused and restarted empty, PostgreSQL paused. Sentinel and Cluster: the
// master's forced failover, crash and partition. Options: --redis a,b (several in turn; `all`),
// also REDIS_TOPOLOGY; --reduced (the CI size, writes no doc); --only <kind>[,<kind>].
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { TOPOLOGY_KINDS, type TopologyKind } from '@redis-patterns/testkit';
import { startTestCluster, waitAllReady } from './test-cluster';
import {
  FULL_SIZE,
  REDUCED_SIZE,
  drillLine,
  drillsFor,
  runDrill,
  seconds,
  type DrillResult,
  type OpStats,
} from './drills';

const ROOT = join(__dirname, '..', '..', '..');
const DOC = join(ROOT, 'docs', 'drills.md');

function redisVersion(): string {
  try {
    return (
      execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] ?? '?'
    );
  } catch {
    return '?';
  }
}

function outcomes(stats: Partial<Record<string, OpStats>>): string {
  return Object.entries(stats)
    .map(([op, s]) => {
      const detail = Object.entries(s?.outcomes ?? {})
        .map(([outcome, count]) => `${outcome}×${count}`)
        .join(' ');
      return `${op}: ${detail} (max ${s?.maxMs} ms)`;
    })
    .join('<br>');
}

/** Explanations of what the failures in these results mean, derived from the results. */
function findings(results: DrillResult[]): string[] {
  const notes: string[] = [];
  const count = (kind: string, match: (key: string) => boolean) =>
    Object.entries(results.find((r) => r.kind === kind)?.failures ?? {})
      .filter(([key]) => match(key))
      .reduce((sum, [, n]) => sum + n, 0);
  const stopped = ['kill', 'term'];
  const bad = stopped.map((k) => count(k, (key) => key.includes('502 BAD_GATEWAY')));
  if (bad.some((n) => n > 0)) {
    notes.push(
      `- **Gateway, replica stopped** (${bad[0]} and ${bad[1]} answers 502 in the SIGKILL and SIGTERM drills): ` +
        'the gateway replays a refused request on the next replica (any method, bodies are ' +
        'buffered) and retries reads whose pooled socket the stopped replica reset; a write that ' +
        'was already sent when its replica died may have been applied, so it is answered 502 ' +
        'instead of replayed. Nothing acknowledged is lost and nothing hangs.',
    );
  }
  const resets = stopped.map((k) =>
    count(k, (key) => key.endsWith('ECONNRESET') || key.endsWith('UND_ERR_SOCKET')),
  );
  if (resets.some((n) => n > 0)) {
    notes.push(
      `- **Client to gateway** (${resets[0]} and ${resets[1]} connection resets): requests in flight ` +
        'on the killed gateway replica, or sent on a keep-alive connection the stopping gateway ' +
        'was closing; a load balancer that retries such requests hides them.',
    );
  }
  const serverDisconnects = results.reduce(
    (sum, r) => sum + r.verification.chatServerDisconnects,
    0,
  );
  if (serverDisconnects > 0) {
    notes.push(
      `- **chat-realtime on SIGTERM** (${serverDisconnects} × "io server disconnect"): the stopping replica ` +
        'disconnects its sockets on purpose (`disconnectSockets(true)`), which socket.io clients ' +
        'take as "io server disconnect" and do not reconnect from by themselves. The drill\'s ' +
        "members reconnect on that event, as the service's page does, and then miss nothing.",
    );
  }
  const lock = count('kill', (key) => key.includes('LOCK_NOT_ACQUIRED'));
  if (lock > 0) {
    notes.push(
      `- **inventory-lock after a SIGKILL** (${lock} × 503 LOCK_NOT_ACQUIRED): a lock held by the ` +
        'killed replica blocks its sku until the lock TTL (3 s) lapses; the refusal is the promised ' +
        '503 with Retry-After and nothing is written.',
    );
  }
  const pause = results.find((r) => r.kind === 'redis-pause');
  if (pause) {
    const slowest = Math.max(...Object.values(pause.during).map((s) => s?.maxMs ?? 0));
    notes.push(
      `- **Redis paused**: every request still answered, the slowest in ${slowest} ms: the ` +
        "gateway's limiter waits for the command timeout (500 ms) until its circuit breaker opens, " +
        'then the service answers (the cache after its own timeout until its breaker opens).',
    );
  }
  const pg = results.find((r) => r.kind === 'postgres-pause');
  const writes = ['inventory.reserve', 'product.write', 'auth.login'] as const;
  const slowest = pg ? Math.max(...writes.map((op) => pg.during[op]?.maxMs ?? 0)) : 0;
  if (pg) {
    notes.push(
      `- **PostgreSQL paused**: cached product reads and sessions keep answering; requests that ` +
        `need PostgreSQL (reservations, product writes, logins) answer 503 DATABASE_UNAVAILABLE ` +
        `with Retry-After within the statement timeout + 500 ms (slowest ${slowest} ms): a paused ` +
        'server runs no statement timeout, so the client-side query timeout is what bounds them.',
    );
  }
  return notes.length ? ['### Findings', '', ...notes, ''] : [];
}

const TOPOLOGY_TITLES: Record<TopologyKind, string> = {
  standalone: 'Standalone Redis',
  sentinel: 'Redis Sentinel (1 master, 2 replicas, 3 Sentinels)',
  cluster: 'Redis Cluster (3 masters, 1 replica each)',
};

const INTRO = [
  '# Fault drills',
  '',
  'Generated by `npm run drills` (tools/drills/run.cjs): the built services as separate',
  'processes, two replicas each, behind the two gateway replicas, under a steady mixed load',
  '(product reads and writes, `GET /auth/me`, logins and logouts, reservations, score',
  'submissions, top-10 reads, chat messages over WebSocket from one member to another on a',
  'different chat replica). After each drill every acknowledged write is read back:',
  'reservations and the stock they left, the last acknowledged product price on both cache',
  'replicas (and two reads right after every acknowledged product write), every session of an',
  'acknowledged login (must answer 200) and of an acknowledged logout (must answer 401: one',
  'answering 200 is a logout **reverted**), scores (best mode), and chat messages (in the',
  "room's history, and received by the live member). Each topology has its own section, rewritten",
  'by its own run:',
  '',
  '```sh',
  'npm run drills                       # standalone: replicas, Redis and PostgreSQL faults',
  'npm run drills -- --redis=sentinel   # forced failover, crash, partition of the master',
  'npm run drills -- --redis=cluster    # the same on the Cluster master owning the drill keys',
  '```',
  '',
];

function marker(topology: TopologyKind, end: boolean): string {
  return `<!-- drills:${topology}:${end ? 'end' : 'begin'} -->`;
}

/** Replaces (or adds, in topology order) one topology's section of docs/drills.md. */
function writeSection(topology: TopologyKind, section: string): void {
  const old = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';
  const sections = new Map<TopologyKind, string>();
  for (const kind of TOPOLOGY_KINDS) {
    const from = old.indexOf(marker(kind, false));
    const to = old.indexOf(marker(kind, true));
    if (from >= 0 && to > from) {
      sections.set(kind, old.slice(from + marker(kind, false).length, to).trim());
    }
  }
  sections.set(topology, section.trim());
  const body = TOPOLOGY_KINDS.filter((kind) => sections.has(kind)).flatMap((kind) => [
    marker(kind, false),
    sections.get(kind) as string,
    marker(kind, true),
    '',
  ]);
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(DOC, `${[...INTRO, ...body].join('\n').trimEnd()}\n`);
}

function checkedLine(r: DrillResult): string {
  const v = r.verification;
  return (
    `Checked afterwards: ${v.loginsAcked} sessions of acknowledged logins (${v.loginsLost} lost` +
    (v.loginsLostBeforeKeep ? `, ${v.loginsLostBeforeKeep} lost as documented` : '') +
    `), ${v.logoutsAcked} acknowledged logouts (${v.logoutsReverted} reverted), ` +
    (v.sessionsUnverified
      ? `${v.sessionsUnverified} sessions unreadable (neither 200 nor 401), `
      : '') +
    `${v.reservationsAcked} acknowledged reservations (${v.reservationsLost} lost, ` +
    `${v.stockMismatch} sku with a wrong stock), ${v.productWritesAcked} products' last acknowledged price ` +
    `(${v.productWritesLost} wrong), ${v.productReadbacks} reads right after an acknowledged product write ` +
    `(${v.productStaleReads} stale), ${v.scoresAcked} acknowledged scores (${v.scoresLost} lost, ` +
    `${v.scoresLostBeforeKeep} lost as documented), ${v.chatAcked} acknowledged chat messages ` +
    `(${v.chatLost} lost, ${v.chatLostBeforeKeep} lost as documented, ${v.chatUndelivered} never ` +
    `delivered to the live member, ${v.chatDuplicates} duplicates; members disconnected on purpose by a ` +
    `stopping chat server and reconnected by hand: ${v.chatServerDisconnects}), ${r.relogins} re-logins.` +
    (r.crashed.length ? ` Crashed: ${r.crashed.join(', ')}.` : ' No process crashed.')
  );
}

function details(results: DrillResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`### ${r.title}`, '', '```', drillLine(r), '```', '');
    lines.push('| phase | per operation: outcome × count (slowest) |', '| --- | --- |');
    lines.push(`| during the fault | ${outcomes(r.during) || '-'} |`);
    lines.push(`| after the fault | ${outcomes(r.after) || '-'} |`);
    lines.push('', checkedLine(r), '');
  }
  return lines;
}

function runLine(size: string, runSeconds: number): string {
  return (
    `Size: ${size}; ${cpus().length} cores, Node ${process.version}, Redis ${redisVersion()}; ` +
    `${new Date().toISOString()}; whole run ${runSeconds.toFixed(0)} s.`
  );
}

function standaloneSection(results: DrillResult[], size: string, runSeconds: number): string {
  const lines = [
    `## ${TOPOLOGY_TITLES.standalone}`,
    '',
    runLine(size, runSeconds),
    '',
    '| drill | requests sent | failed | acknowledged-and-lost | logouts reverted | stale reads | lost as documented | recovery |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.title} | ${r.sent} | ${r.failed} | ${r.ackedLost} | ${r.reverted} | ${r.staleReads} | ${r.lostAsDocumented} | ${seconds(r.recoveryMs)} |`,
    ),
    '',
    'Recovery: from the fault (kills) or its end (SIGCONT, restart) to the last failed request.',
    'The stopped replicas are started again 5 s after the SIGKILL/SIGTERM; meanwhile the gateway',
    'sends their share to the surviving replica (see Findings for what still fails).',
    '"Lost as documented": sessions (the only Redis-only data) acknowledged before Redis was',
    "restarted empty; auth-session's README says Redis persistence is what keeps them. Scores and",
    'chat history are recorded in PostgreSQL and rebuilt: any of them missing counts as lost.',
    '',
    ...findings(results),
    ...details(results),
  ];
  return lines.join('\n');
}

/** What the failover results say, per service, derived from the figures. */
function failoverFindings(results: DrillResult[]): string[] {
  const notes: string[] = [];
  for (const r of results) {
    const v = r.verification;
    const losses = [
      v.loginsLost
        ? `auth-session: ${v.loginsLost} of ${v.loginsAcked} acknowledged logins lost`
        : '',
      v.logoutsReverted
        ? `auth-session: ${v.logoutsReverted} of ${v.logoutsAcked} acknowledged logouts reverted`
        : '',
      v.scoresLost
        ? `game-leaderboard: ${v.scoresLost} of ${v.scoresAcked} acknowledged scores lost`
        : '',
      v.chatLost ? `chat-realtime: ${v.chatLost} of ${v.chatAcked} acknowledged messages lost` : '',
      v.productWritesLost || v.productStaleReads
        ? `product-api-cache: ${v.productWritesLost} products with a lost write, ${v.productStaleReads} stale reads after an acknowledged write (${r.staleAfterFault} after the fault ended)`
        : '',
      v.reservationsLost || v.stockMismatch
        ? `inventory-lock: ${v.reservationsLost} reservations lost, ${v.stockMismatch} wrong stocks`
        : '',
    ].filter(Boolean);
    const errors = Object.entries(r.failures)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([key, count]) => `${key} ×${count}`)
      .join(', ');
    notes.push(
      `- **${r.title}**: ` +
        (losses.length ? `${losses.join('; ')}.` : 'every acknowledged write read back.') +
        (errors ? ` Refused meanwhile: ${errors}.` : ' No request failed.'),
    );
  }
  return ['### Findings', '', ...notes, ''];
}

function failoverSection(
  topology: TopologyKind,
  results: DrillResult[],
  size: string,
  runSeconds: number,
): string {
  const lines = [
    `## ${TOPOLOGY_TITLES[topology]}`,
    '',
    runLine(size, runSeconds),
    topology === 'cluster'
      ? "The faulted master is the one owning the slot of the drill's leaderboard and chat room (one hash tag); sessions, products and rate-limit keys are spread over all three masters."
      : 'Every service writes to the one master; Sentinel `down-after-milliseconds` 1000.',
    '',
    '| drill | requests sent | failed | acknowledged-and-lost | logouts reverted | stale reads (after the fault) | promoted in | first success again | last failure |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.title} | ${r.sent} | ${r.failed} | ${r.ackedLost} | ${r.reverted} | ${r.staleReads} (${r.staleAfterFault}) | ${seconds(r.promotedMs ?? 0)} | ${seconds(r.backMs)}${r.backOp ? ` (${r.backOp})` : ''} | +${seconds(r.lastFailureMs)} |`,
    ),
    '',
    'Acknowledged-and-lost: logins whose session answers 401, scores, chat messages, product',
    'prices and reservations acknowledged and not found afterwards (read back once every node is',
    'in sync again). First success again: from the fault to the end of the first successful',
    'request of each operation sent at or after its first failed (or > 1 s) one, the largest;',
    'last failure: from the fault to the last failed request.',
    '',
    ...failoverFindings(results),
    ...details(results),
  ];
  return lines.join('\n');
}

/** `--redis a,b` / `--redis=a,b` / REDIS_TOPOLOGY; `all` is every topology. */
function topologiesOf(args: string[]): TopologyKind[] {
  let value: string | undefined;
  for (let i = 0; i < args.length; i += 1) {
    if (args[i].startsWith('--redis=')) value = args[i].slice('--redis='.length);
    else if (args[i] === '--redis') value = args[i + 1];
  }
  value ??= process.env.REDIS_TOPOLOGY ?? 'standalone';
  const kinds = value === 'all' ? [...TOPOLOGY_KINDS] : value.split(',').map((k) => k.trim());
  for (const kind of kinds) {
    if (!TOPOLOGY_KINDS.includes(kind as TopologyKind)) {
      throw new Error(
        `--redis must be all or a list of ${TOPOLOGY_KINDS.join(', ')}, got "${kind}"`,
      );
    }
  }
  return kinds as TopologyKind[];
}

async function runTopology(topology: TopologyKind, args: string[]): Promise<DrillResult[]> {
  const reduced = args.includes('--reduced');
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',') : undefined;
  const drills = drillsFor(topology).filter((d) => !only || only.includes(d.kind));
  if (drills.length === 0) {
    console.log(`${topology}: no drill matches --only ${only?.join(',')}`);
    return [];
  }
  const size = reduced ? REDUCED_SIZE : FULL_SIZE;
  const started = Date.now();
  console.log(
    `starting the local system on Redis ${topology} (Redis, PostgreSQL, 6 services × 2 replicas)...`,
  );
  const cluster = await startTestCluster({ topology });
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const results: DrillResult[] = [];
  try {
    for (const [n, drill] of drills.entries()) {
      console.log(`drill ${n + 1}/${drills.length} on ${topology}: ${drill.title}`);
      const result = await runDrill(cluster, drill.kind, size, (l) => console.log(l));
      results.push(result);
      console.log(drillLine(result));
      if (cluster.topology?.hasReplicas) await cluster.topology.converged();
      await waitAllReady(cluster, 60_000);
    }
  } finally {
    await cluster.close();
  }
  const runSeconds = (Date.now() - started) / 1000;
  if (!only && !reduced) {
    const sizeText = 'full (tools/e2e/src/drills.ts FULL_SIZE)';
    writeSection(
      topology,
      topology === 'standalone'
        ? standaloneSection(results, sizeText, runSeconds)
        : failoverSection(topology, results, sizeText, runSeconds),
    );
    console.log(`wrote the ${topology} section of docs/drills.md`);
  }
  mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench-results', `drills-${topology}.json`),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        topology,
        reduced,
        results: results.map(({ events: _events, ...result }) => result),
      },
      null,
      2,
    ),
  );
  console.log(`${topology}: drills done in ${runSeconds.toFixed(0)} s`);
  return results;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const all: DrillResult[] = [];
  for (const topology of topologiesOf(args)) all.push(...(await runTopology(topology, args)));
  for (const r of all) console.log(drillLine(r));
  if (
    all.some((r) => r.ackedLost > 0 || r.reverted > 0 || r.staleReads > 0 || r.crashed.length > 0)
  )
    process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
