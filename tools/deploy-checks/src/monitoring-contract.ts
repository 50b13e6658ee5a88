import { isDeepStrictEqual } from 'node:util';
import type { K8sObject } from './render';
import type { RuleFile } from './observability/generate';

interface ServiceMonitor extends K8sObject {
  spec: {
    selector: { matchLabels?: Record<string, string> };
    endpoints: { port?: string; path?: string }[];
    jobLabel?: string;
  };
}

interface Service extends K8sObject {
  spec: { selector?: Record<string, string>; ports?: { name?: string }[] };
}

interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: {
      matchLabels?: Record<string, string>;
      matchExpressions?: { key: string; operator: string; values?: string[] }[];
    };
    ingress?: { from?: { namespaceSelector?: object }[]; ports?: { port?: string | number }[] }[];
  };
}

const NAME = 'app.kubernetes.io/name';

function selectsPodsOf(policy: NetworkPolicy, app: string): boolean {
  const { matchLabels = {}, matchExpressions = [] } = policy.spec.podSelector;
  return (
    Object.entries(matchLabels).every(([key, value]) => key === NAME && value === app) &&
    matchExpressions.every(
      (expression) =>
        expression.key === NAME && expression.operator === 'In' && expression.values?.includes(app),
    ) &&
    (Object.keys(matchLabels).length > 0 || matchExpressions.length > 0)
  );
}

/**
 * What Prometheus needs to watch every service in the rendered objects: a ServiceMonitor that
 * selects the service's Service by its labels and scrapes a port the Service has at /metrics,
 * naming the job after the Service (the dashboards and rules filter on `job="<app>"`); a
 * NetworkPolicy that lets another namespace reach that port; and one PrometheusRule whose groups
 * are exactly `rules` (deploy/observability/prometheus/alerts.yaml). Returns the problems.
 */
export function monitoringProblems(objects: K8sObject[], rules: RuleFile): string[] {
  const problems: string[] = [];
  const monitors = objects.filter(
    (object): object is ServiceMonitor => object.kind === 'ServiceMonitor',
  );
  const policies = objects.filter(
    (object): object is NetworkPolicy => object.kind === 'NetworkPolicy',
  );
  for (const deployment of objects.filter((object) => object.kind === 'Deployment')) {
    const app = deployment.metadata.name;
    const service = objects.find(
      (object): object is Service =>
        object.kind === 'Service' && (object as Service).spec.selector?.[NAME] === app,
    );
    if (!service) continue;
    const selecting = monitors.filter((monitor) =>
      Object.entries(monitor.spec.selector.matchLabels ?? {}).every(
        ([key, value]) => service.metadata.labels?.[key] === value,
      ),
    );
    if (selecting.length !== 1) {
      problems.push(
        `Service/${service.metadata.name}: ${selecting.length} ServiceMonitors select it, want 1`,
      );
      continue;
    }
    const [monitor] = selecting;
    const where = `ServiceMonitor/${monitor.metadata.name}`;
    if (service.metadata.name !== app) {
      problems.push(
        `${where}: job would be ${service.metadata.name}, the dashboards expect ${app}`,
      );
    }
    if (monitor.spec.jobLabel !== undefined) {
      problems.push(
        `${where}: jobLabel renames the job, the dashboards and rules expect job="${app}"`,
      );
    }
    const ports = new Set((service.spec.ports ?? []).map((port) => port.name));
    for (const endpoint of monitor.spec.endpoints) {
      if (!endpoint.port || !ports.has(endpoint.port)) {
        problems.push(
          `${where}: port ${endpoint.port} is not a port of Service/${service.metadata.name}`,
        );
      }
      if (endpoint.path !== '/metrics') {
        problems.push(`${where}: path ${endpoint.path} is not /metrics`);
      }
    }
    const scrapable = policies.some(
      (policy) =>
        selectsPodsOf(policy, app) &&
        (policy.spec.ingress ?? []).some(
          (rule) =>
            (rule.from ?? []).some((peer) => peer.namespaceSelector !== undefined) &&
            (rule.ports ?? []).some((port) =>
              monitor.spec.endpoints.some((endpoint) => endpoint.port === port.port),
            ),
        ),
    );
    if (!scrapable) {
      problems.push(`Deployment/${app}: no NetworkPolicy lets Prometheus reach its metrics port`);
    }
  }
  const rulesObjects = objects.filter((object) => object.kind === 'PrometheusRule');
  if (rulesObjects.length !== 1) {
    problems.push(`${rulesObjects.length} PrometheusRules, want 1 (from alerts.yaml)`);
  } else if (
    !isDeepStrictEqual((rulesObjects[0].spec as { groups?: unknown }).groups, rules.groups)
  ) {
    problems.push(
      `PrometheusRule/${rulesObjects[0].metadata.name}: its groups differ from deploy/observability/prometheus/alerts.yaml`,
    );
  }
  return problems;
}
