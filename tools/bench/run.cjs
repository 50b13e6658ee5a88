// `npm run bench`: every service's benchmark (`nx run <svc>:bench`, each writing
// bench-results/<svc>.json), then the system benchmark through the gateway on a local cluster,
// then the replica-acknowledgement overhead (the same services on Sentinel vs standalone,
// bench-results/replica-ack.json); then bench-results/latest.json (committed), from which
// tools/bench/figures.cjs regenerates docs/benchmarks.md, docs/benchmarks.svg and every README
// block marked `<!-- figures: <report> -->`.
// Options: --only <svc>[,<svc>] (services to run), --no-system, --no-replica-ack,
// --report-only (rebuild the report from the JSON files already in bench-results/; with --only,
// just those services' reports),
// --seconds <n> (system scenarios), --ack-seconds <n> and --ack-rounds <n> (replica-ack: seconds
// per measurement, 3; alternating rounds, 3).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} = require('node:fs');
const { cpus, totalmem } = require('node:os');
const { join } = require('node:path');

const { writeFigures } = require('./figures.cjs');

const ROOT = join(__dirname, '..', '..');
const RESULTS = join(ROOT, 'bench-results');
const SERVICE_TIMEOUT_MS = 4 * 60 * 1000;

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function benchServices() {
  return readdirSync(join(ROOT, 'apps'))
    .filter((name) => {
      const file = join(ROOT, 'apps', name, 'package.json');
      return existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).scripts?.bench;
    })
    .sort();
}

function redisVersion() {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)[1];
  } catch {
    return 'unknown';
  }
}

/** Runs a command, its output to a log file, with a progress line every 5 s. */
function run(label, command, args, logFile, timeoutMs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let log = '';
    let lastLine = '';
    const keep = (chunk) => {
      log += chunk;
      const lines = String(chunk)
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      if (lines.length) lastLine = lines[lines.length - 1].slice(0, 70);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const tick = setInterval(() => {
      const s = Math.round((Date.now() - started) / 1000);
      process.stdout.write(`    ${label}: ${s} s ${lastLine ? `| ${lastLine}` : ''}\n`);
    }, 5000);
    const timer = setTimeout(() => {
      process.stdout.write(`    ${label}: timed out after ${timeoutMs / 1000} s, stopping it\n`);
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }, timeoutMs);
    child.on('exit', (code) => {
      clearInterval(tick);
      clearTimeout(timer);
      writeFileSync(logFile, log);
      resolve({ code, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/**
 * The goal each issue set for a ratio (the name as the bench writes it): the chart, the summary
 * and the README blocks mark each ratio against it. A bench may also declare its own `goals`.
 */
const GOALS = {
  'auth-session': [{ ratio: 'session rps / jwt rps', atLeast: 0.8 }],
  'product-api-cache': [{ ratio: 'hit/static (rps)', atLeast: 0.8 }],
  'gateway-ratelimit': [
    { ratio: 'fixed window / gateway off (rps, median of rounds)', atLeast: 0.9 },
    { ratio: 'GCRA / gateway off (rps, median of rounds)', atLeast: 0.9 },
    { ratio: 'two limits / gateway off (rps, median of rounds)', atLeast: 0.9 },
    { ratio: 'gateway off / nginx (rps, median of rounds)', atLeast: 0.7 },
  ],
  'game-leaderboard': [
    { ratio: 'rank p99 10^6 / 10^4 (timed)', atMost: 1.5 },
    {
      ratio: 'submit rps with PostgreSQL / Redis only, implicit board (4 views), best',
      atLeast: 0.5,
    },
    {
      ratio: 'submit rps with PostgreSQL / Redis only, configured board (1 set), best',
      atLeast: 0.5,
    },
  ],
  'inventory-lock': [
    { ratio: 'redlock-1 100 / atomic-sql 100', atLeast: 0.5 },
    { ratio: 'redlock-3 100 / atomic-sql 100', atLeast: 0.45 },
  ],
  system: [{ ratio: 'mixed: limiter on (better of first, last) / off (rps)', atLeast: 0.9 }],
};

/** bench-results/<name>.json, or <name>-bench.json (the name some benches write). */
function readReport(name) {
  const file = [`${name}.json`, `${name}-bench.json`]
    .map((candidate) => join(RESULTS, candidate))
    .find((candidate) => existsSync(candidate));
  if (!file) return undefined;
  const report = JSON.parse(readFileSync(file, 'utf8'));
  return {
    ...report,
    service: name,
    goals: report.goals ?? GOALS[name],
    file,
    mtime: statSync(file).mtime.toISOString(),
  };
}

function gitCommit() {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'apps', 'libs', 'tools'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${sha}+uncommitted` : sha;
  } catch {
    return undefined;
  }
}

/** bench-results/latest.json (committed): the one source of every figure the docs quote. */
function writeOutputs(result) {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  return writeFigures(result);
}

async function main() {
  const started = Date.now();
  const all = benchServices();
  const only = arg('--only')?.split(',');
  const services = only ? all.filter((s) => only.includes(s)) : all;
  const reportOnly = process.argv.includes('--report-only');
  const status = {};
  const logs = join(RESULTS, 'logs');
  mkdirSync(logs, { recursive: true });
  const system = !process.argv.includes('--no-system');
  const replicaAck = !process.argv.includes('--no-replica-ack');
  const steps = reportOnly ? 0 : services.length + (system ? 1 : 0) + (replicaAck ? 1 : 0);
  let step = 0;
  if (!reportOnly) {
    for (const service of services) {
      step += 1;
      process.stdout.write(`[${step}/${steps}] ${service}: nx run ${service}:bench\n`);
      const { code, seconds } = await run(
        service,
        'npx',
        ['nx', 'run', `${service}:bench`, '--outputStyle=static'],
        join(logs, `${service}.log`),
        SERVICE_TIMEOUT_MS,
      );
      status[service] =
        code === 0 ? 'ok' : `failed (exit ${code}, see bench-results/logs/${service}.log)`;
      process.stdout.write(
        `[${step}/${steps}] ${service}: ${status[service]} in ${seconds.toFixed(0)} s\n`,
      );
    }
    if (system) {
      step += 1;
      process.stdout.write(
        `[${step}/${steps}] system: mixed load through the gateway on a local cluster\n`,
      );
      const { code, seconds } = await run(
        'system',
        process.execPath,
        [
          '--conditions=@redis-patterns/source',
          '-r',
          '@swc-node/register',
          join(ROOT, 'tools', 'e2e', 'src', 'system-bench.ts'),
          arg('--seconds') ?? '8',
        ],
        join(logs, 'system.log'),
        SERVICE_TIMEOUT_MS,
      );
      status.system =
        code === 0 ? 'ok' : `failed (exit ${code}, see bench-results/logs/system.log)`;
      process.stdout.write(
        `[${step}/${steps}] system: ${status.system} in ${seconds.toFixed(0)} s\n`,
      );
    }
    if (replicaAck) {
      step += 1;
      process.stdout.write(
        `[${step}/${steps}] replica-ack: the same services on Sentinel (WAIT 1) vs standalone\n`,
      );
      const { code, seconds } = await run(
        'replica-ack',
        process.execPath,
        [
          '--conditions=@redis-patterns/source',
          '-r',
          '@swc-node/register',
          join(ROOT, 'tools', 'e2e', 'src', 'replica-ack-bench.ts'),
          arg('--ack-seconds') ?? '3',
          arg('--ack-rounds') ?? '3',
        ],
        join(logs, 'replica-ack.log'),
        SERVICE_TIMEOUT_MS,
      );
      status['replica-ack'] =
        code === 0 ? 'ok' : `failed (exit ${code}, see bench-results/logs/replica-ack.log)`;
      process.stdout.write(
        `[${step}/${steps}] replica-ack: ${status['replica-ack']} in ${seconds.toFixed(0)} s\n`,
      );
    }
  }
  // A report not run this time keeps what the previous latest.json said of it (its own run's
  // date, commit and status), so `--only <svc>` refreshes one service and leaves the rest true.
  const previous = existsSync(join(RESULTS, 'latest.json'))
    ? JSON.parse(readFileSync(join(RESULTS, 'latest.json'), 'utf8'))
    : { reports: [] };
  const commit = gitCommit();
  const date = new Date().toISOString();
  // --report-only rebuilds the reports named by --only (all when none is named) from their
  // files, each dated by its file's time; the others keep what latest.json said of them.
  const rebuilt = (name) => reportOnly && (!only || only.includes(name));
  const reports = [...all, 'system', 'replica-ack'].map((name) => {
    const before = previous.reports.find((r) => r.service === name);
    if (status[name] === undefined && before && !rebuilt(name)) return before;
    const report = readReport(name) ?? { service: name };
    return {
      ...report,
      status: status[name] ?? (reportOnly ? (before?.status ?? 'ok') : 'not run'),
      run:
        status[name] !== undefined
          ? { date, commit }
          : rebuilt(name) && report.mtime
            ? { date: report.mtime, commit }
            : (before?.run ?? { date, commit }),
    };
  });
  const result = {
    date,
    commit,
    seconds: (Date.now() - started) / 1000,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      redis: redisVersion(),
    },
    reports: reports.map(({ file: _file, ...r }) => r),
  };
  const changed = writeOutputs(result);
  process.stdout.write(
    `\nwrote bench-results/latest.json; regenerated ${changed.join(', ') || 'nothing'} (${Math.round(result.seconds)} s)\n`,
  );
  if (Object.values(status).some((s) => s !== 'ok')) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
