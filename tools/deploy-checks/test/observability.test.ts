import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { monitoringProblems } from '../src/monitoring-contract';
import { schemaProblems } from '../src/k8s-schema';
import { kustomize, type K8sObject } from '../src/render';
import { deployableApps, repoRoot } from '../src/repo';
import { SERVICES, allDashboards } from '../src/observability/dashboards';
import {
  builtInMetrics,
  exposedMetrics,
  promqlProblems,
} from '../src/observability/exposed-metrics';
import { OBSERVABILITY, readRuleFile, staleFiles } from '../src/observability/generate';
import { promtool } from '../src/observability/promtool';

let production: K8sObject[];
let scratch: string;
beforeAll(() => {
  production = kustomize(join(repoRoot, 'k8s', 'overlays', 'production'));
  scratch = mkdtempSync(join(tmpdir(), 'deploy-checks-observability-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('deploy/observability', () => {
  it('holds exactly what the generator writes (dashboards, the PrometheusRule)', () => {
    expect(staleFiles()).toEqual([]);
  });

  it('has a dashboard per deployable service and one system overview, uids unique', () => {
    const dashboards = allDashboards();
    expect([...SERVICES].sort()).toEqual(deployableApps());
    expect(dashboards.map(({ file }) => file).sort()).toEqual(
      [...deployableApps().map((app) => `${app}.json`), 'system-overview.json'].sort(),
    );
    const uids = dashboards.map(({ dashboard }) => dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
  });

  it('lays every panel out on the grid with an id, a datasource and queries', () => {
    for (const { file, dashboard } of allDashboards()) {
      const panels = dashboard.panels ?? [];
      const ids = panels.map((panel) => panel.id);
      expect({ file, unique: new Set(ids).size }).toEqual({ file, unique: panels.length });
      for (const panel of panels) {
        const where = `${file} ${panel.title}`;
        const grid = panel.gridPos as { x: number; w: number; h: number };
        expect({ where, fits: grid.x + grid.w <= 24 && grid.h > 0 }).toEqual({ where, fits: true });
        if (panel.type === 'row') continue;
        const targets = (panel as { targets?: { expr?: string; refId?: string }[] }).targets ?? [];
        expect({ where, datasource: panel.datasource?.uid }).toEqual({
          where,
          datasource: '${datasource}',
        });
        expect({ where, queries: targets.length > 0 }).toEqual({ where, queries: true });
        for (const target of targets) {
          expect({ where, expr: Boolean(target.expr), refId: Boolean(target.refId) }).toEqual({
            where,
            expr: true,
            refId: true,
          });
        }
      }
    }
  });

  it('queries only metrics, labels and label values the services expose', () => {
    const metrics = exposedMetrics();
    const problems = allDashboards().flatMap(({ file, dashboard }) =>
      (dashboard.panels ?? []).flatMap((panel) =>
        ((panel as { targets?: { expr: string }[] }).targets ?? []).flatMap((target) =>
          promqlProblems(target.expr, metrics).map(
            (problem) => `${file} ${panel.title}: ${problem}`,
          ),
        ),
      ),
    );
    const rules = readRuleFile().groups.flatMap((group) =>
      group.rules.flatMap((rule) =>
        promqlProblems(rule.expr, metrics).map((problem) => `alert ${rule.alert}: ${problem}`),
      ),
    );
    expect([...problems, ...rules]).toEqual([]);
  });

  it('the metric check catches a renamed metric, an unknown label and a mistyped value', () => {
    expect(
      promqlProblems(
        'sum(rate(ratelimit_decision_total{job="gateway-ratelimit"}[5m])) + ' +
          'sum(rate(ratelimit_decisions_total{tier="gold", result="fail-open"}[5m])) + ' +
          'max(sessions_active{job="game-leaderboard"})',
        exposedMetrics(),
      ),
    ).toEqual([
      'ratelimit_decision_total: no service exposes it',
      'ratelimit_decisions_total: has no label tier (it has policy, result)',
      'ratelimit_decisions_total{result="fail-open"}: no service that exposes it uses the value fail-open',
      'sessions_active{job="game-leaderboard"}: no such job exposes it',
    ]);
  });

  it.each(builtInMetrics().filter(({ source }) => source !== 'prometheus'))(
    'built-in metric $name is defined by $source',
    ({ name, source }) => {
      const dir = dirname(require.resolve(`${source}/package.json`));
      const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) =>
        /\.js$/.test(file),
      );
      expect(
        files.some((file) => readFileSync(join(dir, file), 'utf8').includes(`'${name}'`)),
      ).toBe(true);
    },
  );
});

describe('alert rules (promtool)', () => {
  it('pass promtool check rules', () => {
    expect(promtool(['check', 'rules', OBSERVABILITY.alerts])).toEqual([]);
  });

  it('pass their unit tests (promtool test rules)', () => {
    expect(promtool(['test', 'rules', OBSERVABILITY.alertTests])).toEqual([]);
  });

  it('promtool refuses a broken rule and a unit test that expects the wrong alert', () => {
    const rules = join(scratch, 'alerts.yaml');
    writeFileSync(rules, readFileSync(OBSERVABILITY.alerts, 'utf8').replace('== 0', '== == 0'));
    expect(promtool(['check', 'rules', rules]).join('\n')).toMatch(/parse error/);
    writeFileSync(rules, readFileSync(OBSERVABILITY.alerts, 'utf8'));
    const tests = join(scratch, 'alerts.test.yaml');
    writeFileSync(
      tests,
      readFileSync(OBSERVABILITY.alertTests, 'utf8').replace(
        "summary: 'every replica of chat-realtime is down'",
        "summary: 'every replica of chat-realtime is up'",
      ),
    );
    expect(promtool(['test', 'rules', tests]).join('\n')).toMatch(
      /FAILED:[\s\S]*every replica of chat-realtime is down/,
    );
  });

  it('fails with what to install when promtool is absent, instead of skipping', () => {
    expect(() =>
      promtool(['check', 'rules', OBSERVABILITY.alerts], 'promtool-not-installed'),
    ).toThrow(
      /^promtool-not-installed is not installed, so the alert rules cannot be checked and unit-tested: install it with `sudo tools\/prerequisites.sh --install`/,
    );
  });

  it('every alert carries a severity, a summary and a description', () => {
    for (const rule of readRuleFile().groups.flatMap((group) => group.rules)) {
      expect({
        alert: rule.alert,
        severity: ['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''),
        text: Boolean(rule.annotations?.summary && rule.annotations?.description),
      }).toEqual({ alert: rule.alert, severity: true, text: true });
    }
  });

  it('every alert is unit-tested by promtool', () => {
    const tested = new Set(
      (
        parse(readFileSync(OBSERVABILITY.alertTests, 'utf8')) as {
          tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
        }
      ).tests.flatMap((test) =>
        (test.alert_rule_test ?? [])
          .filter((expectation) => (expectation.exp_alerts ?? []).length > 0)
          .map((expectation) => expectation.alertname),
      ),
    );
    const alerts = readRuleFile().groups.flatMap((group) => group.rules.map((rule) => rule.alert));
    expect(alerts.filter((alert) => !tested.has(alert as string))).toEqual([]);
  });
});

describe('k8s/overlays/production monitoring', () => {
  it('ServiceMonitor per service, Prometheus admitted, PrometheusRule = alerts.yaml', () => {
    expect(monitoringProblems(production, readRuleFile())).toEqual([]);
    expect(production.filter((object) => object.kind === 'ServiceMonitor')).toHaveLength(
      deployableApps().length,
    );
  });

  it('validates ServiceMonitor and PrometheusRule against their schemas, unknown fields included', () => {
    const monitor = structuredClone(
      production.find((object) => object.kind === 'ServiceMonitor'),
    ) as K8sObject & { spec: { endpoints: Record<string, unknown>[] } };
    monitor.spec.endpoints[0].intervall = '15s';
    monitor.spec.endpoints[0].interval = '15 seconds';
    const rule = structuredClone(
      production.find((object) => object.kind === 'PrometheusRule'),
    ) as K8sObject & { spec: { groups: { rules: Record<string, unknown>[] }[] } };
    rule.spec.groups[0].rules[0].fro = '2m';
    delete rule.spec.groups[0].rules[1].expr;
    expect([...schemaProblems(monitor), ...schemaProblems(rule)]).toEqual([
      `ServiceMonitor/${monitor.metadata.name} at /spec/endpoints/0: must NOT have additional properties ("intervall")`,
      expect.stringMatching(
        new RegExp(
          `^ServiceMonitor/${monitor.metadata.name} at /spec/endpoints/0/interval: must match pattern`,
        ),
      ),
      'PrometheusRule/redis-patterns-alerts at /spec/groups/0/rules/0: must NOT have additional properties ("fro")',
      "PrometheusRule/redis-patterns-alerts at /spec/groups/0/rules/1: must have required property 'expr'",
    ]);
  });

  it('flags a wrong scrape port, a missing scrape policy and rules that drifted from alerts.yaml', () => {
    const objects = structuredClone(production).filter(
      (object) =>
        !(object.kind === 'NetworkPolicy' && object.metadata.name === 'allow-prometheus-scrape'),
    );
    const monitor = objects.find(
      (object) => object.kind === 'ServiceMonitor' && object.metadata.name === 'auth-session',
    ) as K8sObject & { spec: { endpoints: { port: string }[] } };
    monitor.spec.endpoints[0].port = 'metrics';
    const rules = readRuleFile();
    rules.groups[0].rules[0].for = '5m';
    const problems = monitoringProblems(objects, rules);
    expect(problems).toContain(
      'ServiceMonitor/auth-session: port metrics is not a port of Service/auth-session',
    );
    expect(problems).toContain(
      'Deployment/game-leaderboard: no NetworkPolicy lets Prometheus reach its metrics port',
    );
    expect(problems).toContain(
      'PrometheusRule/redis-patterns-alerts: its groups differ from deploy/observability/prometheus/alerts.yaml',
    );
  });
});
