import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import autocannon from 'autocannon';

/** One measured scenario. Latencies in milliseconds. */
export interface ScenarioResult {
  scenario: string;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  [extra: string]: number | string;
}

export interface HttpLoadOptions {
  scenario: string;
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  /** Concurrent connections. @default 20 */
  connections?: number;
  /** Seconds of load (bounded: at most 30). @default 5 */
  durationSeconds?: number;
  /** Autocannon request sequence (overrides method/body per request). */
  requests?: autocannon.Request[];
  /** Status codes that count as success besides 2xx (e.g. 304, 429). */
  expectedStatus?: number[];
}

/** HTTP load from autocannon against a loopback URL, bounded in time. */
export async function httpLoad(options: HttpLoadOptions): Promise<ScenarioResult> {
  const target = new URL(options.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
    throw new Error(`load tests only target loopback, not ${target.hostname}`);
  }
  const result = await autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    connections: options.connections ?? 20,
    duration: Math.min(options.durationSeconds ?? 5, 30),
    requests: options.requests,
  });
  const expected = new Set(options.expectedStatus ?? []);
  const unexpected = Object.entries(result.statusCodeStats ?? {})
    .filter(([code]) => !code.startsWith('2') && !expected.has(Number(code)))
    .reduce((sum, [, stats]) => sum + (stats as { count: number }).count, 0);
  return {
    scenario: options.scenario,
    requests: result.requests.total,
    rps: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: unexpected,
  };
}

/** a / b rounded to 3 decimals (0 when b is 0). */
export function ratio(a: number, b: number): number {
  return b === 0 ? 0 : Math.round((a / b) * 1000) / 1000;
}

/** Percentile (0..100) of a list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface RatioGoal {
  /** A key of `ratios`. */
  ratio: string;
  atLeast?: number;
  atMost?: number;
}

/** `hit/static >= 0.8`: the target a goal states. */
export function goalName(goal: RatioGoal): string {
  return goal.atLeast !== undefined
    ? `${goal.ratio} >= ${goal.atLeast}`
    : `${goal.ratio} <= ${goal.atMost}`;
}

/** Whether the measured ratio meets the goal (a missing ratio never does). */
export function goalMet(goal: RatioGoal, ratios: Record<string, number>): boolean {
  const value = ratios[goal.ratio];
  if (typeof value !== 'number') return false;
  return (
    (goal.atLeast === undefined || value >= goal.atLeast) &&
    (goal.atMost === undefined || value <= goal.atMost)
  );
}

export interface BenchReport {
  service: string;
  scenarios: ScenarioResult[];
  /** Named ratios against a baseline measured in the same run, e.g. `hit/static`. */
  ratios: Record<string, number>;
  /** Targets with whether they were met, e.g. `{ 'stampede = 1 query per cold key': true }`. */
  targets?: Record<string, boolean>;
  /**
   * Targets on a ratio, e.g. `{ ratio: 'hit/static', atLeast: 0.8 }`: each becomes a target
   * (`hit/static >= 0.8`) and a marker on the ratio's bar in docs/benchmarks.svg.
   */
  goals?: RatioGoal[];
  notes?: Record<string, string | number | boolean>;
}

function workspaceRoot(): string {
  let dir = process.cwd();
  while (!existsSync(join(dir, 'nx.json'))) {
    const parent = join(dir, '..');
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** Prints the report as a table and writes `bench-results/<service>.json` and `.md`. */
export function writeBenchReport(input: BenchReport): string {
  const report: BenchReport = {
    ...input,
    targets: {
      ...Object.fromEntries(
        (input.goals ?? []).map((goal) => [goalName(goal), goalMet(goal, input.ratios)]),
      ),
      ...input.targets,
    },
  };
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    date: new Date().toISOString(),
  };
  const columns = ['scenario', 'requests', 'rps', 'p50Ms', 'p99Ms', 'errors', 'non2xx'];
  const extra = [...new Set(report.scenarios.flatMap((s) => Object.keys(s)))].filter(
    (k) => !columns.includes(k),
  );
  const header = [...columns, ...extra];
  const lines = [
    `## ${report.service}`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...report.scenarios.map((s) => `| ${header.map((h) => String(s[h] ?? '')).join(' | ')} |`),
    '',
    '| ratio | value |',
    '| --- | --- |',
    ...Object.entries(report.ratios).map(([name, value]) => `| ${name} | ${value} |`),
  ];
  if (report.targets) {
    lines.push('', '| target | met |', '| --- | --- |');
    for (const [name, met] of Object.entries(report.targets))
      lines.push(`| ${name} | ${met ? 'yes' : 'NO'} |`);
  }
  if (report.notes) {
    lines.push('');
    for (const [name, value] of Object.entries(report.notes)) lines.push(`- ${name}: ${value}`);
  }
  lines.push(
    '',
    `Machine: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${machine.date}`,
  );
  const markdown = lines.join('\n');
  const dir = join(workspaceRoot(), 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${report.service}.json`),
    JSON.stringify({ ...report, machine }, null, 2),
  );
  writeFileSync(join(dir, `${report.service}.md`), `${markdown}\n`);
  process.stdout.write(`${markdown}\n`);
  return markdown;
}
