import { join } from 'node:path';
import { companionProblems, deploymentProblems } from '../src/deployment-contract';
import { schemaProblems, unknownFieldProblems } from '../src/k8s-schema';
import { kustomize, type K8sObject } from '../src/render';
import { deployableApps, repoRoot } from '../src/repo';

const overlays = ['dev', 'production'];
const rendered = new Map<string, K8sObject[]>();
const render = (overlay: string): K8sObject[] => {
  if (!rendered.has(overlay))
    rendered.set(overlay, kustomize(join(repoRoot, 'k8s', 'overlays', overlay)));
  return rendered.get(overlay) as K8sObject[];
};
const envOf = (objects: K8sObject[], app: string): string[] => {
  const deployment = objects.find(
    (object) => object.kind === 'Deployment' && object.metadata.name === app,
  );
  const container = (
    deployment?.spec as { template: { spec: { containers: { env?: { name: string }[] }[] } } }
  ).template.spec.containers[0];
  return (container.env ?? []).map((variable) => variable.name);
};

describe.each(overlays)('k8s/overlays/%s', (overlay) => {
  it('renders with kubectl kustomize', () => {
    expect(render(overlay).length).toBeGreaterThan(0);
  });

  it('validates every object against the Kubernetes schemas', () => {
    expect(render(overlay).flatMap(schemaProblems)).toEqual([]);
  });

  it('has no field the Kubernetes schemas do not know', () => {
    expect(unknownFieldProblems(render(overlay))).toEqual([]);
  });

  it('runs every app, each Deployment matching its service (env, port, probes, shutdown, security)', () => {
    const objects = render(overlay);
    const deployed = objects
      .filter((object) => object.kind === 'Deployment')
      .map((object) => object.metadata.name);
    expect(deployed.sort()).toEqual(deployableApps());
    expect(deploymentProblems(objects)).toEqual([]);
  });

  it('has a Service, PodDisruptionBudget and NetworkPolicy per service, HPAs for gateway and cache', () => {
    expect(companionProblems(render(overlay))).toEqual([]);
  });

  it('routes the Ingress to the gateway only', () => {
    const ingresses = render(overlay).filter((object) => object.kind === 'Ingress');
    expect(ingresses).toHaveLength(1);
    const backends = JSON.stringify(ingresses[0].spec).match(/"service":\{"name":"[^"]+"/g);
    expect(new Set(backends)).toEqual(new Set(['"service":{"name":"gateway-ratelimit"']));
  });
});

describe('overlay specifics', () => {
  it('dev runs its own Redis and PostgreSQL, reachable only from their clients', () => {
    const objects = render('dev');
    const statefulSets = objects
      .filter((object) => object.kind === 'StatefulSet')
      .map((object) => object.metadata.name);
    expect(statefulSets.sort()).toEqual(['postgres', 'redis']);
    for (const name of statefulSets) {
      expect(
        objects.some((object) => object.kind === 'NetworkPolicy' && object.metadata.name === name),
      ).toBe(true);
    }
  });

  it('production has no in-cluster datastore, no generated Secret, more replicas, and Redlock masters', () => {
    const objects = render('production');
    expect(objects.filter((object) => ['StatefulSet', 'Secret'].includes(object.kind))).toEqual([]);
    for (const deployment of objects.filter((object) => object.kind === 'Deployment')) {
      const dev = render('dev').find(
        (object) =>
          object.kind === 'Deployment' && object.metadata.name === deployment.metadata.name,
      );
      expect((deployment.spec as { replicas: number }).replicas).toBeGreaterThan(
        (dev?.spec as { replicas: number }).replicas,
      );
    }
    expect(envOf(objects, 'inventory-lock')).toContain('REDLOCK_URLS');
    // The services' environment ConfigMaps; mounted files (policies, API keys) hold no topology.
    const configs = objects.filter(
      (object) => object.kind === 'ConfigMap' && /-config(-[a-z0-9]+)?$/.test(object.metadata.name),
    );
    expect(configs).toHaveLength(6);
    for (const config of configs) {
      const data = config.data as Record<string, string>;
      expect(data.REDIS_SENTINELS ?? data.REDIS_CLUSTER_NODES).toBeDefined();
    }
  });
});
