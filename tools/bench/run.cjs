// `npm run bench`: every service's benchmark (`nx run <svc>:bench`, each writing
// bench-results/<svc>.json), then the system benchmark through the gateway on a local cluster;
// then bench-results/<date>.json and .md, docs/benchmarks.md and docs/benchmarks.svg.
// Options: --only <svc>[,<svc>] (services to run), --no-system, --report-only (rebuild the
// report from the JSON files already in bench-results/), --seconds <n> (system scenarios).
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

function readReport(name) {
  const file = join(RESULTS, `${name}.json`);
  if (!existsSync(file)) return undefined;
  return {
    ...JSON.parse(readFileSync(file, 'utf8')),
    file,
    mtime: statSync(file).mtime.toISOString(),
  };
}

const fmt = (value) =>
  typeof value === 'number'
    ? Number.isInteger(value)
      ? String(value)
      : value.toFixed(2)
    : String(value ?? '');

function markdownTable(result) {
  const lines = [
    `Machine: ${result.machine.cores} cores (${result.machine.cpu}), ${result.machine.memoryGb} GB, ` +
      `Node ${result.machine.node}, Redis ${result.machine.redis}. Run ${result.date}, ` +
      `${Math.round(result.seconds)} s in all.`,
    '',
  ];
  lines.push(
    '| benchmark | status | targets met | ratios (scenario / baseline) |',
    '| --- | --- | --- | --- |',
  );
  for (const report of result.reports) {
    const targets = Object.values(report.targets ?? {});
    const ratios = Object.entries(report.ratios ?? {})
      .map(([name, value]) => `${name} = ${fmt(value)}`)
      .join('; ');
    lines.push(
      `| ${report.service} | ${report.status} | ${targets.filter(Boolean).length}/${targets.length} | ${ratios || '-'} |`,
    );
  }
  lines.push('');
  for (const report of result.reports) {
    const status =
      report.status === 'ok'
        ? ''
        : ` (${report.status}: figures from an earlier run, ${report.mtime ?? 'none'})`;
    lines.push(`### ${report.service}${status}`, '');
    if (!report.scenarios) {
      lines.push('No results.', '');
      continue;
    }
    const base = ['scenario', 'requests', 'rps', 'p50Ms', 'p99Ms', 'errors', 'non2xx'];
    const extra = [...new Set(report.scenarios.flatMap((s) => Object.keys(s)))].filter(
      (k) => !base.includes(k),
    );
    const header = [...base, ...extra];
    lines.push(`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`);
    for (const s of report.scenarios) lines.push(`| ${header.map((h) => fmt(s[h])).join(' | ')} |`);
    lines.push('');
    if (report.ratios && Object.keys(report.ratios).length) {
      lines.push('| ratio (scenario / its baseline, same run) | value |', '| --- | --- |');
      for (const [name, value] of Object.entries(report.ratios))
        lines.push(`| ${name} | ${fmt(value)} |`);
      lines.push('');
    }
    if (report.targets && Object.keys(report.targets).length) {
      lines.push('| target | met |', '| --- | --- |');
      for (const [name, met] of Object.entries(report.targets))
        lines.push(`| ${name} | ${met ? 'yes' : '**no**'} |`);
      lines.push('');
    }
    if (report.notes) {
      for (const [name, value] of Object.entries(report.notes)) lines.push(`- ${name}: ${value}`);
      lines.push('');
    }
  }
  return lines.join('\n');
}

const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Two horizontal bar panels (throughput, p99) with one row per HTTP scenario. */
function svgChart(result) {
  const rows = result.reports.flatMap((r) =>
    (r.scenarios ?? [])
      .filter((s) => typeof s.rps === 'number' && s.rps > 0)
      .map((s) => ({ label: `${r.service}: ${s.scenario}`, rps: s.rps, p99: s.p99Ms ?? 0 })),
  );
  const rowH = 18;
  const labelW = 480;
  const panelW = 300;
  const gap = 40;
  const top = 50;
  const height = top + rows.length * rowH + 30;
  const width = labelW + 2 * panelW + gap + 80;
  const maxRps = Math.max(1, ...rows.map((r) => r.rps));
  const maxP99 = Math.max(1, ...rows.map((r) => r.p99));
  // Log scale: the figures span from a few hundred to tens of thousands per second.
  const scale = (value, max) => (Math.log10(1 + value) / Math.log10(1 + max)) * (panelW - 60);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">redis-patterns benchmarks, ${escape(result.date.slice(0, 10))}: ${result.machine.cores} cores, Node ${escape(result.machine.node)}, Redis ${escape(result.machine.redis)}</text>`,
    `<text x="${labelW}" y="40" font-weight="bold">throughput (requests/s, log scale)</text>`,
    `<text x="${labelW + panelW + gap}" y="40" font-weight="bold">p99 latency (ms, log scale)</text>`,
  ];
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    if (i % 2 === 0)
      out.push(`<rect x="0" y="${y - 2}" width="${width}" height="${rowH}" fill="#f4f4f4"/>`);
    out.push(
      `<text x="${labelW - 6}" y="${y + 11}" text-anchor="end">${escape(row.label.slice(0, 80))}</text>`,
    );
    const w1 = Math.max(1, scale(row.rps, maxRps));
    out.push(
      `<rect x="${labelW}" y="${y + 1}" width="${w1.toFixed(1)}" height="${rowH - 6}" fill="#3b7dd8"/>`,
    );
    out.push(`<text x="${(labelW + w1 + 4).toFixed(1)}" y="${y + 11}">${row.rps}</text>`);
    const x2 = labelW + panelW + gap;
    const w2 = Math.max(1, scale(row.p99, maxP99));
    out.push(
      `<rect x="${x2}" y="${y + 1}" width="${w2.toFixed(1)}" height="${rowH - 6}" fill="#d8773b"/>`,
    );
    out.push(`<text x="${(x2 + w2 + 4).toFixed(1)}" y="${y + 11}">${fmt(row.p99)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function writeOutputs(result) {
  mkdirSync(RESULTS, { recursive: true });
  const stamp = result.date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const table = markdownTable(result);
  writeFileSync(join(RESULTS, `${stamp}.json`), JSON.stringify(result, null, 2));
  writeFileSync(join(RESULTS, `${stamp}.md`), `# Benchmarks ${result.date}\n\n${table}\n`);
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(join(ROOT, 'docs', 'benchmarks.svg'), svgChart(result));
  const doc = [
    '# Benchmarks',
    '',
    "Generated by `npm run bench` (tools/bench/run.cjs): each service's own benchmark",
    '(`nx run <service>:bench`, every scenario next to its baseline in the same run, real Redis and',
    'PostgreSQL started by testkit, load from autocannon or socket.io-client on 127.0.0.1), then the',
    'system benchmark: the six services as processes, two replicas each, behind the two gateway',
    'replicas, with the rate limiter on (limits never reached) and off. Every figure is from one run',
    `on one machine; compare ratios, not absolute numbers. Raw data: bench-results/${result.date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z')}.json.`,
    '',
    '![throughput and p99 per scenario](benchmarks.svg)',
    '',
    table,
  ].join('\n');
  writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), `${doc}\n`);
  return stamp;
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
  const steps = reportOnly ? 0 : services.length + (process.argv.includes('--no-system') ? 0 : 1);
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
    if (!process.argv.includes('--no-system')) {
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
  }
  const reports = [...all, 'system'].map((name) => {
    const report = readReport(name) ?? { service: name };
    return { ...report, status: status[name] ?? (reportOnly ? 'ok' : 'not run') };
  });
  const result = {
    date: new Date().toISOString(),
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
  const stamp = writeOutputs(result);
  process.stdout.write(
    `\n${markdownTable(result)}\nwrote bench-results/${stamp}.json, bench-results/${stamp}.md, docs/benchmarks.md, docs/benchmarks.svg (${Math.round(result.seconds)} s)\n`,
  );
  if (Object.values(status).some((s) => s !== 'ok')) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
