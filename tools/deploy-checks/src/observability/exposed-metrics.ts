import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deployableApps, repoRoot } from '../repo';

/** A metric some service exposes on /metrics, as its source registers it. */
export interface ExposedMetric {
  type: 'counter' | 'gauge' | 'histogram';
  labels: Set<string>;
  /** The apps exposing it. */
  services: Set<string>;
  /** Every string literal in those apps' sources: the values a label can take are among them. */
  literals: Set<string>;
}

/** Labels Prometheus (and the Prometheus Operator) attach to every scraped series. */
const TARGET_LABELS = new Set([
  'job',
  'instance',
  'namespace',
  'pod',
  'service',
  'container',
  'endpoint',
]);

/**
 * What every service exposes without registering it: service-kit's HTTP histogram
 * (fastify-metrics), prom-client's default process metrics, and Prometheus's own `up`.
 */
const BUILT_IN: Record<string, { type: ExposedMetric['type']; labels: string[]; source: string }> =
  {
    up: { type: 'gauge', labels: [], source: 'prometheus' },
    http_request_duration_seconds: {
      type: 'histogram',
      labels: ['method', 'route', 'status_code'],
      source: 'fastify-metrics',
    },
    process_cpu_seconds_total: { type: 'counter', labels: [], source: 'prom-client' },
    process_resident_memory_bytes: { type: 'gauge', labels: [], source: 'prom-client' },
    nodejs_eventloop_lag_p99_seconds: { type: 'gauge', labels: [], source: 'prom-client' },
  };

/** The built-in metric names, each with the package that defines it (a test checks it does). */
export function builtInMetrics(): { name: string; source: string }[] {
  return Object.entries(BUILT_IN).map(([name, metric]) => ({ name, source: metric.source }));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(entry) && !/\.spec\.ts$/.test(entry) ? [path] : [];
  });
}

/**
 * The metrics the apps register (`app.prom.counter({ name: 'x', labelNames: [...] })` and the
 * gauge and histogram alike), read from their sources as they are now, plus the built-in ones.
 */
export function exposedMetrics(root = repoRoot): Map<string, ExposedMetric> {
  const apps = deployableApps(root);
  const metrics = new Map<string, ExposedMetric>();
  const literalsOf = new Map<string, Set<string>>();
  for (const app of apps) {
    const texts = sourceFiles(join(root, 'apps', app, 'src')).map((file) =>
      readFileSync(file, 'utf8'),
    );
    const literals = new Set(
      texts.flatMap((text) => [...text.matchAll(/['"`]([a-z0-9_]+)['"`]/g)].map((m) => m[1])),
    );
    literalsOf.set(app, literals);
    for (const text of texts) {
      for (const match of text.matchAll(
        /prom\.(counter|gauge|histogram)\(\{\s*name:\s*'([a-zA-Z_:][a-zA-Z0-9_:]*)'/g,
      )) {
        const rest = text.slice(match.index + match[0].length);
        const next = rest.search(/prom\.(counter|gauge|histogram)\(/);
        const body = next === -1 ? rest.slice(0, 1500) : rest.slice(0, next);
        const labels = /labelNames:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '';
        const metric = metrics.get(match[2]) ?? {
          type: match[1] as ExposedMetric['type'],
          labels: new Set<string>(),
          services: new Set<string>(),
          literals: new Set<string>(),
        };
        for (const label of labels.matchAll(/'([a-zA-Z_][a-zA-Z0-9_]*)'/g))
          metric.labels.add(label[1]);
        metric.services.add(app);
        for (const literal of literals) metric.literals.add(literal);
        metrics.set(match[2], metric);
      }
    }
  }
  for (const [name, metric] of Object.entries(BUILT_IN)) {
    metrics.set(name, {
      type: metric.type,
      labels: new Set(metric.labels),
      services: new Set(apps),
      literals: new Set(),
    });
  }
  return metrics;
}

/** Labels whose values are open-ended (routes, status codes, bucket bounds): not checked. */
const FREE_VALUES = new Set(['route', 'status_code', 'method', 'le']);

/**
 * Checks one PromQL expression against what the services expose: each selector `name{...}` names
 * an exposed metric (a histogram's `_bucket`, `_count`, `_sum` included), each matcher a label it
 * has, and each value a label value its source contains (a typo like `result="fail-open"` would
 * otherwise draw an empty panel or an alert that never fires). Every selector in the dashboards
 * and rules carries braces, so this finds them all. Returns one message per problem.
 */
export function promqlProblems(expr: string, metrics: Map<string, ExposedMetric>): string[] {
  const problems: string[] = [];
  const selectors = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)];
  if (selectors.length === 0) problems.push(`${expr}: no metric selector with {labels}`);
  for (const [, series, matchers] of selectors) {
    const base = series.replace(/_(bucket|count|sum)$/, '');
    const metric =
      metrics.get(series) ??
      (metrics.get(base)?.type === 'histogram' ? metrics.get(base) : undefined);
    if (!metric) {
      problems.push(`${series}: no service exposes it`);
      continue;
    }
    for (const [, label, operator, value] of matchers.matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g,
    )) {
      if (label === 'job') {
        const jobs = value.split('|');
        const exposing = jobs.filter((job) => metric.services.has(job));
        // `job="x"` must name a service exposing it; `job=~"a|b"` must include one.
        if (operator === '=' ? exposing.length !== jobs.length : exposing.length === 0) {
          problems.push(`${series}{job${operator}"${value}"}: no such job exposes it`);
        }
        continue;
      }
      if (TARGET_LABELS.has(label)) continue;
      if (!metric.labels.has(label) && !(label === 'le' && series.endsWith('_bucket'))) {
        problems.push(
          `${series}: has no label ${label} (it has ${[...metric.labels].join(', ') || 'none'})`,
        );
        continue;
      }
      if (
        FREE_VALUES.has(label) ||
        operator.startsWith('!') ||
        !/^[a-zA-Z0-9_-]+(\|[a-zA-Z0-9_-]+)*$/.test(value)
      )
        continue;
      for (const alternative of value.split('|')) {
        if (!metric.literals.has(alternative))
          problems.push(
            `${series}{${label}="${alternative}"}: no service that exposes it uses the value ${alternative}`,
          );
      }
    }
  }
  return problems;
}
