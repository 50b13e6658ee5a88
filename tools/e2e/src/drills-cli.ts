// `npm run drills`: every fault drill at full size against one local cluster, one line each,
// then docs/drills.md. Options: --reduced (the CI size), --only <kind>[,<kind>].
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startTestCluster, waitAllReady } from './test-cluster';
import {
  DRILLS,
  FULL_SIZE,
  REDUCED_SIZE,
  drillLine,
  runDrill,
  type DrillResult,
  type OpStats,
} from './drills';

const ROOT = join(__dirname, '..', '..', '..');

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
        'the gateway retries a refused connection on the next replica only for requests without a ' +
        'body, so a POST/PUT routed to a stopped replica is answered 502 (once per 2 s cooldown per ' +
        'gateway replica and upstream, until the replica is back), and a request on a pooled ' +
        'keep-alive connection that the stopping replica closes is not retried at all. Nothing ' +
        'acknowledged is lost and nothing hangs, but the graceful drain is not yet zero-failure.',
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
        'take as "io server disconnect" and do NOT reconnect from automatically. The drill\'s ' +
        'members reconnect by hand (as socket.io documents) and then miss nothing; a client ' +
        "without that handler, such as the service's own page, stays offline after a rolling restart.",
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
        "gateway's limiter waits for the command timeout (500 ms) on every request (no circuit " +
        'breaker), then the service answers (the cache after its own timeout until its breaker opens).',
    );
  }
  const pg = results.find((r) => r.kind === 'postgres-pause');
  const writes = ['inventory.reserve', 'product.write', 'auth.login'] as const;
  const slowest = pg ? Math.max(...writes.map((op) => pg.during[op]?.maxMs ?? 0)) : 0;
  if (pg && slowest > 2000) {
    notes.push(
      `- **PostgreSQL paused**: cached product reads and sessions keep answering; requests that ` +
        `need PostgreSQL (reservations, product writes, logins) wait for it (up to ${slowest} ms) ` +
        'instead of the 503 the issue describes: a paused server answers no statement-timeout ' +
        'either, so only the gateway timeout (10 s) bounds a longer outage.',
    );
  }
  return notes.length ? ['## Findings', '', ...notes, ''] : [];
}

function markdown(results: DrillResult[], size: string, seconds: number): string {
  const lines = [
    '# Fault drills',
    '',
    'Generated by `npm run drills` (tools/drills/run.cjs): the built services as separate',
    'processes, two replicas each, behind the two gateway replicas, under a steady mixed load',
    '(product reads and writes, `GET /auth/me`, reservations, score submissions, top-10 reads,',
    'chat messages over WebSocket from one member to another on a different chat replica). After',
    'each drill every acknowledged write is checked: reservations and the stock they left,',
    'the last acknowledged product price on both cache replicas, scores (best mode), and chat',
    'messages (stored in the room, and received by the live member).',
    '',
    `Size: ${size}; ${cpus().length} cores, Node ${process.version}, Redis ${redisVersion()}; ` +
      `${new Date().toISOString()}; whole run ${seconds.toFixed(0)} s.`,
    '',
    '| drill | requests sent | failed | acknowledged-and-lost | lost as documented | recovery |',
    '| --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.title} | ${r.sent} | ${r.failed} | ${r.ackedLost} | ${r.lostAsDocumented} | ${(r.recoveryMs / 1000).toFixed(1)} s |`,
    ),
    '',
    'Recovery: from the fault (kills) or its end (SIGCONT, restart) to the last failed request.',
    'The stopped replicas are started again 5 s after the SIGKILL/SIGTERM, so for those two drills',
    'the recovery time includes that downtime (writes routed to a stopped replica fail until it is',
    'back, see Findings).',
    '"Lost as documented": Redis-only data (leaderboard scores, chat history) acknowledged before',
    'Redis was restarted empty; the READMEs say Redis persistence is what keeps them.',
    '',
    ...findings(results),
  ];
  for (const r of results) {
    lines.push(`## ${r.title}`, '', '```', drillLine(r), '```', '');
    lines.push('| phase | per operation: outcome × count (slowest) |', '| --- | --- |');
    lines.push(`| during the fault | ${outcomes(r.during) || '-'} |`);
    lines.push(`| after the fault | ${outcomes(r.after) || '-'} |`);
    const v = r.verification;
    lines.push(
      '',
      `Checked afterwards: ${v.reservationsAcked} acknowledged reservations (${v.reservationsLost} lost, ` +
        `${v.stockMismatch} sku with a wrong stock), ${v.productWritesAcked} products' last acknowledged price ` +
        `(${v.productWritesLost} wrong), ${v.scoresAcked} acknowledged scores (${v.scoresLost} lost, ` +
        `${v.scoresLostBeforeKeep} lost as documented), ${v.chatAcked} acknowledged chat messages ` +
        `(${v.chatLost} lost, ${v.chatLostBeforeKeep} lost as documented, ${v.chatUndelivered} never ` +
        `delivered to the live member, ${v.chatDuplicates} duplicates; members disconnected on purpose by a ` +
        `stopping chat server and reconnected by hand: ${v.chatServerDisconnects}), ${r.relogins} re-logins.` +
        (r.crashed.length ? ` Crashed: ${r.crashed.join(', ')}.` : ' No process crashed.'),
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const reduced = args.includes('--reduced');
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',') : undefined;
  const drills = DRILLS.filter((d) => !only || only.includes(d.kind));
  const size = reduced ? REDUCED_SIZE : FULL_SIZE;
  const started = Date.now();
  console.log('starting the local cluster (Redis, PostgreSQL, 6 services × 2 replicas)...');
  const cluster = await startTestCluster();
  console.log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const results: DrillResult[] = [];
  try {
    for (const [n, drill] of drills.entries()) {
      console.log(`drill ${n + 1}/${drills.length}: ${drill.title}`);
      const result = await runDrill(cluster, drill.kind, size, (l) => console.log(l));
      results.push(result);
      console.log(drillLine(result));
      await waitAllReady(cluster, 60_000);
    }
  } finally {
    await cluster.close();
  }
  const seconds = (Date.now() - started) / 1000;
  if (!only && !reduced) {
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    writeFileSync(
      join(ROOT, 'docs', 'drills.md'),
      markdown(results, 'full (tools/e2e/src/drills.ts FULL_SIZE)', seconds),
    );
    console.log('wrote docs/drills.md');
  }
  mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench-results', 'drills.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        reduced,
        results: results.map(({ events: _events, ...result }) => result),
      },
      null,
      2,
    ),
  );
  console.log(`all drills done in ${seconds.toFixed(0)} s`);
  if (results.some((r) => r.ackedLost > 0 || r.crashed.length > 0)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
