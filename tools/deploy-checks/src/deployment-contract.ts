import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@redis-patterns/service-kit';
import type { K8sObject } from './render';
import { isDeployableApp, serviceEnv, type ServiceEnv } from './repo';

/**
 * Variables a deployment must set even though the schema lets them out: the service runs
 * without them on a laptop, never correctly in a cluster.
 */
const MUST_SET: Record<string, string[]> = { 'auth-session': ['SESSION_SECRET'] };

/** Minimum replicas per Deployment (the issue: at least 2, the gateway 3). */
const MIN_REPLICAS: Record<string, number> = { 'gateway-ratelimit': 3 };

/** Services the HorizontalPodAutoscaler must scale. */
export const AUTOSCALED = ['gateway-ratelimit', 'product-api-cache'];

/** Seconds of margin between the end of the graceful shutdown and the kubelet's SIGKILL. */
const GRACE_MARGIN_S = 2;

interface Container {
  name: string;
  image?: string;
  ports?: { name?: string; containerPort: number }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command?: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
    seccompProfile?: { type?: string };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface Probe {
  httpGet?: { path?: string; port?: number | string };
}

interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
  volumes?: { name: string; emptyDir?: object; configMap?: { name: string } }[];
}

interface Deployment extends K8sObject {
  spec: { replicas?: number; template: { spec: PodSpec } };
}

/** The service an image runs: the last path segment of its name (`.../gateway-ratelimit:1.0`). */
export function imageApp(image: string): string {
  const withoutDigest = image.split('@')[0];
  const name = withoutDigest.replace(/:[^/:]+$/, '');
  return name.slice(name.lastIndexOf('/') + 1);
}

/** The environment a container gets: literal values, ConfigMap keys and Secret references. */
function containerEnvironment(
  container: Container,
  objects: K8sObject[],
  where: string,
  problems: string[],
): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const source of container.envFrom ?? []) {
    if (source.secretRef) {
      problems.push(
        `${where}: envFrom secretRef ${source.secretRef.name} hides which variables it sets; ` +
          'reference each key with env[].valueFrom.secretKeyRef',
      );
    }
    if (source.configMapRef) {
      const configMap = objects.find(
        (object) =>
          object.kind === 'ConfigMap' && object.metadata.name === source.configMapRef?.name,
      );
      if (!configMap) {
        problems.push(`${where}: ConfigMap ${source.configMapRef.name} is not in the manifests`);
        continue;
      }
      for (const [key, value] of Object.entries((configMap.data ?? {}) as Record<string, string>)) {
        env.set(key, value);
      }
    }
  }
  for (const variable of container.env ?? []) {
    const secret = variable.valueFrom?.secretKeyRef;
    env.set(variable.name, secret ? secretValue(objects, secret.name, secret.key) : variable.value);
  }
  return env;
}

/** A Secret's value when the manifests hold the Secret (dev), else undefined (operator-made). */
function secretValue(objects: K8sObject[], name: string, key: string): string | undefined {
  const secret = objects.find(
    (object) => object.kind === 'Secret' && object.metadata.name === name,
  );
  const data = secret?.data as Record<string, string> | undefined;
  if (data?.[key] !== undefined) return Buffer.from(data[key], 'base64').toString('utf8');
  return (secret?.stringData as Record<string, string> | undefined)?.[key];
}

function checkProbe(
  probe: Probe | undefined,
  kind: string,
  path: string,
  port: number,
  container: Container,
  where: string,
  problems: string[],
): void {
  const get = probe?.httpGet;
  if (!get) {
    problems.push(`${where}: ${kind} must be an httpGet on ${path}`);
    return;
  }
  if (get.path !== path) problems.push(`${where}: ${kind} path ${get.path} is not ${path}`);
  const probePort =
    typeof get.port === 'string'
      ? container.ports?.find((candidate) => candidate.name === get.port)?.containerPort
      : get.port;
  if (probePort !== port) {
    problems.push(`${where}: ${kind} port ${String(get.port)} is not the service port ${port}`);
  }
}

function preStopSeconds(container: Container): number | undefined {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  return command[0] === 'sleep' && command.length === 2 ? Number(command[1]) : undefined;
}

/**
 * Checks every Deployment against the service it runs: image names a real app, env variables
 * are exactly ones its envSchema knows (required ones present, values valid), port and probe
 * paths match, shutdown timing is consistent, and the pod is locked down. Returns the problems.
 */
/**
 * A variable that names a file in a volume mounted from a ConfigMap (the gateway's policies and
 * key registry) gets the ConfigMap's content, written to a scratch file, so that the service's
 * own config code reads exactly what the pod would. A path into a ConfigMap that has no such key
 * is a problem: the pod would not start.
 */
function withMountedFiles(
  env: Record<string, string>,
  pod: Deployment['spec']['template']['spec'],
  container: Container,
  objects: K8sObject[],
  where: string,
  problems: string[],
): Record<string, string> {
  const out = { ...env };
  for (const [name, value] of Object.entries(env)) {
    if (!value.startsWith('/')) continue;
    const mount = (container.volumeMounts ?? []).find((m) =>
      value.startsWith(`${m.mountPath.replace(/\/$/, '')}/`),
    );
    const volume = pod?.volumes?.find((v) => v.name === mount?.name);
    if (!mount || !volume?.configMap) continue;
    const key = value.slice(mount.mountPath.replace(/\/$/, '').length + 1);
    const configMap = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata?.name === volume.configMap?.name,
    ) as { data?: Record<string, string> } | undefined;
    const content = configMap?.data?.[key];
    if (content === undefined) {
      problems.push(
        `${where}: ${name} names ${value}, but ConfigMap ${volume.configMap.name} has no key ${key}`,
      );
      continue;
    }
    const file = join(mkdtempSync(join(tmpdir(), 'mounted-')), key);
    writeFileSync(file, content);
    out[name] = file;
  }
  return out;
}

export function deploymentProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const envs = new Map<string, ServiceEnv>();
  const deployments = objects.filter(
    (object): object is Deployment => object.kind === 'Deployment',
  );
  for (const deployment of deployments) {
    const pod = deployment.spec.template.spec;
    for (const container of pod.containers) {
      const where = `Deployment/${deployment.metadata.name} container ${container.name}`;
      const app = imageApp(container.image ?? '');
      if (!isDeployableApp(app)) {
        problems.push(
          `${where}: image ${container.image} names no app with a build script (apps/${app})`,
        );
        continue;
      }
      if (app !== deployment.metadata.name) {
        problems.push(
          `${where}: image runs ${app}, the Deployment is named ${deployment.metadata.name}`,
        );
      }
      if (!envs.has(app)) envs.set(app, serviceEnv(app));
      const schema = envs.get(app) as ServiceEnv;
      const env = containerEnvironment(container, objects, where, problems);

      for (const name of env.keys()) {
        if (!schema.known.has(name))
          problems.push(`${where}: ${name} is not a variable of ${app}'s envSchema`);
      }
      const mustSet = [
        ...schema.required,
        ...(MUST_SET[app] ?? []).filter((name) => schema.known.has(name)),
        // A default on 127.0.0.1 is right on a laptop and always wrong in a pod.
        ...[...schema.defaults]
          .filter(([, value]) => typeof value === 'string' && /127\.0\.0\.1|localhost/.test(value))
          .map(([name]) => name)
          .filter((name) => !isRedisUrlWithTopology(name, env)),
      ];
      for (const name of new Set(mustSet)) {
        if (!env.has(name)) problems.push(`${where}: ${name} must be set for ${app}`);
      }
      const literal = withMountedFiles(
        Object.fromEntries(
          [...env].filter(
            (entry): entry is [string, string] =>
              entry[1] !== undefined && schema.known.has(entry[0]),
          ),
        ),
        pod,
        container,
        objects,
        where,
        problems,
      );
      try {
        const config = loadConfig(
          schema.schema as unknown as Parameters<typeof loadConfig>[0],
          literal,
        );
        // Its own checks need every value: only when the manifests hold the Secrets too (dev).
        if ([...env.values()].every((value) => value !== undefined)) schema.configFromEnv?.(config);
      } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
      }

      const port = Number(env.get('PORT') ?? schema.defaults.get('PORT'));
      const declared = container.ports?.find((candidate) => candidate.name === 'http');
      if (declared?.containerPort !== port) {
        problems.push(
          `${where}: container port "http" is ${declared?.containerPort}, the service listens on ${port}`,
        );
      }
      checkProbe(
        container.startupProbe,
        'startupProbe',
        '/health/live',
        port,
        container,
        where,
        problems,
      );
      checkProbe(
        container.livenessProbe,
        'livenessProbe',
        '/health/live',
        port,
        container,
        where,
        problems,
      );
      checkProbe(
        container.readinessProbe,
        'readinessProbe',
        '/health/ready',
        port,
        container,
        where,
        problems,
      );

      const sleep = preStopSeconds(container);
      const timeoutMs = Number(
        env.get('SHUTDOWN_TIMEOUT_MS') ?? schema.defaults.get('SHUTDOWN_TIMEOUT_MS'),
      );
      const delayMs = Number(
        env.get('SHUTDOWN_DELAY_MS') ?? schema.defaults.get('SHUTDOWN_DELAY_MS') ?? 0,
      );
      const grace = pod.terminationGracePeriodSeconds ?? 30;
      if (sleep === undefined)
        problems.push(`${where}: preStop must sleep (endpoints drop the pod asynchronously)`);
      else if (grace < sleep + timeoutMs / 1000 + GRACE_MARGIN_S) {
        problems.push(
          `${where}: terminationGracePeriodSeconds ${grace} < preStop ${sleep} s + SHUTDOWN_TIMEOUT_MS ` +
            `${timeoutMs} ms + ${GRACE_MARGIN_S} s: the kubelet would kill a draining pod`,
        );
      }
      if (delayMs >= timeoutMs) {
        problems.push(
          `${where}: SHUTDOWN_DELAY_MS ${delayMs} must be below SHUTDOWN_TIMEOUT_MS ${timeoutMs}`,
        );
      }

      const security = container.securityContext ?? {};
      if (!(security.runAsNonRoot ?? pod.securityContext?.runAsNonRoot))
        problems.push(`${where}: runAsNonRoot is not set`);
      if (!security.readOnlyRootFilesystem)
        problems.push(`${where}: readOnlyRootFilesystem is not set`);
      if (security.allowPrivilegeEscalation !== false)
        problems.push(`${where}: allowPrivilegeEscalation is not false`);
      if (!security.capabilities?.drop?.includes('ALL'))
        problems.push(`${where}: capabilities are not all dropped`);
      if (
        (security.seccompProfile ?? pod.securityContext?.seccompProfile)?.type !== 'RuntimeDefault'
      ) {
        problems.push(`${where}: seccompProfile is not RuntimeDefault`);
      }
      const tmp = container.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
      if (!pod.volumes?.some((volume) => volume.name === tmp?.name && volume.emptyDir)) {
        problems.push(`${where}: /tmp is not an emptyDir (the root filesystem is read-only)`);
      }
      for (const kind of ['requests', 'limits'] as const) {
        for (const resource of ['cpu', 'memory']) {
          if (container.resources?.[kind]?.[resource] === undefined) {
            problems.push(`${where}: resources.${kind}.${resource} is not set`);
          }
        }
      }
    }
    const min = MIN_REPLICAS[deployment.metadata.name] ?? 2;
    if ((deployment.spec.replicas ?? 1) < min) {
      problems.push(
        `Deployment/${deployment.metadata.name}: replicas ${deployment.spec.replicas} < ${min}`,
      );
    }
  }
  return problems;
}

/** With Sentinel or Cluster set, REDIS_URL only carries credentials and may keep its default. */
function isRedisUrlWithTopology(name: string, env: Map<string, string | undefined>): boolean {
  return name === 'REDIS_URL' && (env.has('REDIS_SENTINELS') || env.has('REDIS_CLUSTER_NODES'));
}

/** PodDisruptionBudget per Deployment, HPA (autoscaling/v2) for the autoscaled ones, a NetworkPolicy each. */
export function companionProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const selects = (object: K8sObject, app: string): boolean => {
    const spec = object.spec as {
      selector?: { matchLabels?: Record<string, string> };
      podSelector?: { matchLabels?: Record<string, string> };
    };
    const labels = spec.selector?.matchLabels ?? spec.podSelector?.matchLabels ?? {};
    return labels['app.kubernetes.io/name'] === app;
  };
  for (const deployment of objects.filter((object) => object.kind === 'Deployment')) {
    const app = deployment.metadata.name;
    if (!objects.some((object) => object.kind === 'PodDisruptionBudget' && selects(object, app))) {
      problems.push(`Deployment/${app}: no PodDisruptionBudget selects it`);
    }
    if (!objects.some((object) => object.kind === 'NetworkPolicy' && selects(object, app))) {
      problems.push(`Deployment/${app}: no NetworkPolicy admits traffic to it`);
    }
    if (
      !objects.some(
        (object) =>
          object.kind === 'Service' &&
          (object.spec as { selector?: Record<string, string> }).selector?.[
            'app.kubernetes.io/name'
          ] === app,
      )
    ) {
      problems.push(`Deployment/${app}: no Service selects it`);
    }
    const hpa = objects.find(
      (object) =>
        object.kind === 'HorizontalPodAutoscaler' &&
        (object.spec as { scaleTargetRef?: { name?: string } }).scaleTargetRef?.name === app,
    );
    if (AUTOSCALED.includes(app) && hpa?.apiVersion !== 'autoscaling/v2') {
      problems.push(`Deployment/${app}: no autoscaling/v2 HorizontalPodAutoscaler scales it`);
    }
  }
  return problems;
}
