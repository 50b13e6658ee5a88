import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { companionProblems, deploymentProblems } from '../src/deployment-contract';
import { schemaProblems, unknownFieldProblems } from '../src/k8s-schema';
import { kustomize, type K8sObject } from '../src/render';
import { repoRoot } from '../src/repo';

// The checks must fail on a broken manifest: each case breaks one thing in a copy of the
// rendered dev overlay and expects the problem to be named.
interface Container {
  name: string;
  image: string;
  env: { name: string; value?: string }[];
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
  ports: { containerPort: number }[];
  securityContext: Record<string, unknown>;
  [field: string]: unknown;
}
interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    template: { spec: { terminationGracePeriodSeconds: number; containers: Container[] } };
  };
}

let pristine: K8sObject[];
let scratch: string;
beforeAll(() => {
  pristine = kustomize(join(repoRoot, 'k8s', 'overlays', 'dev'));
  scratch = mkdtempSync(join(tmpdir(), 'deploy-checks-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function broken(
  app: string,
  change: (deployment: Deployment, objects: K8sObject[]) => void,
): K8sObject[] {
  const objects = structuredClone(pristine);
  const deployment = objects.find(
    (object) => object.kind === 'Deployment' && object.metadata.name === app,
  ) as Deployment;
  change(deployment, objects);
  return objects;
}
const container = (deployment: Deployment): Container =>
  deployment.spec.template.spec.containers[0];

it('flags a typo in a field name that schema validation lets through', () => {
  const objects = broken('gateway-ratelimit', (deployment) => {
    const main = container(deployment);
    main.imagee = main.image;
  });
  expect(objects.flatMap(schemaProblems)).toEqual([]);
  expect(unknownFieldProblems(objects)).toEqual([
    'Deployment/gateway-ratelimit at spec.template.spec.containers[0].imagee: unknown field "imagee"',
  ]);
});

it('flags a wrong type through the Kubernetes schema', () => {
  const objects = broken('game-leaderboard', (deployment) => {
    (deployment.spec as { replicas: unknown }).replicas = 'two';
  });
  expect(objects.flatMap(schemaProblems).join('\n')).toMatch(
    /Deployment\/game-leaderboard: .*replicas must be integer/,
  );
});

it('flags an env variable the service does not read, and a missing required one', () => {
  const objects = broken('auth-session', (deployment) => {
    const main = container(deployment);
    main.env = main.env.filter((variable) => variable.name !== 'SESSION_SECRET');
    main.env.push({ name: 'SESION_TTL', value: '60' });
  });
  expect(deploymentProblems(objects)).toEqual([
    "Deployment/auth-session container auth-session: SESION_TTL is not a variable of auth-session's envSchema",
    'Deployment/auth-session container auth-session: SESSION_SECRET must be set for auth-session',
    // auth-session's own configFromEnv agrees (it runs because dev holds every Secret value).
    expect.stringMatching(/auth-session: SESSION_SECRET is required/),
  ]);
});

it('flags a ConfigMap value the service would reject at boot', () => {
  const objects = broken('chat-realtime', (deployment, all) => {
    const name = (container(deployment).envFrom as { configMapRef: { name: string } }[])[0]
      .configMapRef.name;
    const config = all.find(
      (object) => object.kind === 'ConfigMap' && object.metadata.name === name,
    ) as K8sObject;
    (config.data as Record<string, string>).LOG_LEVEL = 'verbose';
  });
  expect(deploymentProblems(objects).join('\n')).toMatch(/chat-realtime: LOG_LEVEL must be valid/);
});

it('flags a wrong probe path, a wrong port and an image naming no app', () => {
  const objects = broken('inventory-lock', (deployment) => {
    const main = container(deployment);
    main.readinessProbe.httpGet.path = '/healthz';
    main.ports[0].containerPort = 8080;
    main.image = 'redis-patterns/inventory-locks:dev';
  });
  expect(deploymentProblems(objects)).toEqual([
    'Deployment/inventory-lock container inventory-lock: image redis-patterns/inventory-locks:dev names no app with a build script (apps/inventory-locks)',
  ]);
  const fixedImage = broken('inventory-lock', (deployment) => {
    const main = container(deployment);
    main.readinessProbe.httpGet.path = '/healthz';
    main.ports[0].containerPort = 8080;
  });
  const problems = deploymentProblems(fixedImage).join('\n');
  expect(problems).toMatch(/readinessProbe path \/healthz is not \/health\/ready/);
  expect(problems).toMatch(/container port "http" is 8080, the service listens on 3003/);
  expect(problems).toMatch(/startupProbe port http is not the service port 3003/);
});

it('flags a grace period shorter than preStop + SHUTDOWN_TIMEOUT_MS, and a writable root', () => {
  const objects = broken('product-api-cache', (deployment) => {
    deployment.spec.template.spec.terminationGracePeriodSeconds = 10;
    container(deployment).securityContext.readOnlyRootFilesystem = false;
    deployment.spec.replicas = 1;
  });
  const problems = deploymentProblems(objects).join('\n');
  expect(problems).toMatch(/terminationGracePeriodSeconds 10 < preStop 5 s \+ SHUTDOWN_TIMEOUT_MS/);
  expect(problems).toMatch(/readOnlyRootFilesystem is not set/);
  expect(problems).toMatch(/replicas 1 < 2/);
});

it('flags a missing PodDisruptionBudget and a missing HPA', () => {
  const objects = structuredClone(pristine).filter(
    (object) =>
      !(object.kind === 'PodDisruptionBudget' && object.metadata.name === 'game-leaderboard') &&
      object.kind !== 'HorizontalPodAutoscaler',
  );
  expect(companionProblems(objects).sort()).toEqual([
    'Deployment/game-leaderboard: no PodDisruptionBudget selects it',
    'Deployment/gateway-ratelimit: no autoscaling/v2 HorizontalPodAutoscaler scales it',
    'Deployment/product-api-cache: no autoscaling/v2 HorizontalPodAutoscaler scales it',
  ]);
});

it('fails on a kustomization that does not render', () => {
  writeFileSync(join(scratch, 'kustomization.yaml'), 'resources:\n  - missing.yaml\n');
  expect(() => kustomize(scratch)).toThrow(/kubectl kustomize .* failed: .*missing\.yaml/);
});

it('fails with a clear message when kubectl is absent, instead of skipping', () => {
  expect(() => kustomize(scratch, 'kubectl-not-installed')).toThrow(
    /^kubectl-not-installed is not installed, so the Kubernetes manifests cannot be rendered and checked: install it with `sudo tools\/prerequisites.sh --install`/,
  );
});

it("runs the service's own config checks on the dev Secrets (a too-short SESSION_SECRET)", () => {
  const objects = broken('auth-session', (_deployment, all) => {
    const secret = all.find(
      (object) =>
        object.kind === 'Secret' && object.metadata.name.startsWith('auth-session-secrets'),
    ) as K8sObject;
    (secret.data as Record<string, string>).SESSION_SECRET =
      Buffer.from('short').toString('base64');
  });
  expect(deploymentProblems(objects).join('\n')).toMatch(/auth-session: .*SESSION_SECRET/);
});
