import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../repo';
import { allDashboards } from './dashboards';

/** Where the observability sources and their generated copies live. */
export const OBSERVABILITY = {
  dir: join(repoRoot, 'deploy', 'observability'),
  dashboards: join(repoRoot, 'deploy', 'observability', 'dashboards'),
  alerts: join(repoRoot, 'deploy', 'observability', 'prometheus', 'alerts.yaml'),
  alertTests: join(repoRoot, 'deploy', 'observability', 'prometheus', 'alerts.test.yaml'),
  prometheusRule: join(
    repoRoot,
    'k8s',
    'overlays',
    'production',
    'monitoring',
    'prometheus-rule.yaml',
  ),
};

const REGENERATE = 'npm run observability -w tools/deploy-checks';

/** Prometheus's rule-file format, as alerts.yaml holds it. */
export interface RuleFile {
  groups: {
    name: string;
    rules: {
      alert?: string;
      record?: string;
      expr: string;
      for?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }[];
  }[];
}

export function readRuleFile(file = OBSERVABILITY.alerts): RuleFile {
  return parse(readFileSync(file, 'utf8')) as RuleFile;
}

/** The production overlay's PrometheusRule: alerts.yaml's groups, unchanged. */
export function prometheusRule(rules: RuleFile = readRuleFile()): Record<string, unknown> {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'redis-patterns-alerts',
      labels: { 'app.kubernetes.io/part-of': 'redis-patterns' },
    },
    spec: { groups: rules.groups },
  };
}

/** Prettier over every file at once, in a child process: Prettier 3 loads its parsers with a
 * dynamic import, which Jest's module sandbox refuses. */
function prettier(files: Map<string, string>): Map<string, string> {
  const script = `
    const prettier = require('prettier');
    let input = '';
    process.stdin.on('data', (chunk) => (input += chunk));
    process.stdin.on('end', async () => {
      const out = [];
      for (const [file, text] of JSON.parse(input)) {
        const options = (await prettier.resolveConfig(file)) ?? {};
        out.push([file, await prettier.format(text, { ...options, filepath: file })]);
      }
      process.stdout.write(JSON.stringify(out));
    });`;
  const result = spawnSync(process.execPath, ['-e', script], {
    cwd: repoRoot,
    input: JSON.stringify([...files]),
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`prettier failed: ${result.stderr || result.error}`);
  return new Map(JSON.parse(result.stdout) as [string, string][]);
}

/**
 * Every generated file, by absolute path, formatted as `prettier --check` wants it: one JSON per
 * dashboard and the PrometheusRule built from alerts.yaml.
 */
export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const { file, dashboard } of allDashboards()) {
    files.set(join(OBSERVABILITY.dashboards, file), JSON.stringify(dashboard));
  }
  const header =
    `# Generated from ${relative(repoRoot, OBSERVABILITY.alerts)} by \`${REGENERATE}\`:\n` +
    '# edit that file, not this one (deploy-checks fails while they differ).\n';
  files.set(OBSERVABILITY.prometheusRule, header + stringify(prometheusRule(), { lineWidth: 0 }));
  return prettier(files);
}

/** The generated files that differ from what is committed, as messages naming the fix. */
export function staleFiles(): string[] {
  const stale: string[] = [];
  for (const [path, text] of generatedFiles()) {
    let current: string | undefined;
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== text) {
      stale.push(`${relative(repoRoot, path)} is not what the generator writes: run ${REGENERATE}`);
    }
  }
  return stale;
}

if (require.main === module) {
  for (const [path, text] of generatedFiles()) {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${relative(repoRoot, path)}\n`);
  }
}
