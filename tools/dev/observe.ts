// `npm start -- --observe`: a local Prometheus (Debian's `prometheus`, when installed) scraping
// every replica's /metrics, with the project's alert rules loaded, on http://127.0.0.1:9090.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureOutput, spawnTracked, stopChild, waitUntilReady } from '@redis-patterns/testkit';
import { untilAnswering, type Cluster } from './cluster';

const ROOT = join(__dirname, '..', '..');
const ALERTS = join(ROOT, 'deploy', 'observability', 'prometheus', 'alerts.yaml');

export interface Observer {
  url: string;
  stop(): Promise<void>;
}

/** The scrape config: one job per service, one target per replica, labelled like the k8s ones. */
export function prometheusConfig(cluster: Cluster): string {
  const services = [...new Set(cluster.instances.map((i) => i.service))];
  const jobs = services.map((service) => {
    const targets = cluster.instances
      .filter((i) => i.service === service)
      .map((i) => `'127.0.0.1:${i.metricsPort}'`);
    return [
      `  - job_name: ${service}`,
      `    static_configs:`,
      `      - targets: [${targets.join(', ')}]`,
      `        labels: { service: ${service} }`,
    ].join('\n');
  });
  return [
    'global:',
    '  scrape_interval: 5s',
    '  evaluation_interval: 5s',
    'rule_files:',
    `  - ${ALERTS}`,
    'scrape_configs:',
    ...jobs,
    '',
  ].join('\n');
}

/** Starts Prometheus, or says what to install and returns undefined. */
export async function startObserver(
  cluster: Cluster,
  dataDir: string,
  port = 9090,
): Promise<Observer | undefined> {
  if (spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.log('--observe: `prometheus` is not installed (sudo tools/prerequisites.sh --install)');
    return undefined;
  }
  const dir = join(dataDir, 'prometheus');
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, prometheusConfig(cluster));
  const child = spawnTracked('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  const output = captureOutput(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(child, {
    what: `prometheus ready on ${url}`,
    timeoutMs: 30_000,
    output,
    ready: (signal) =>
      untilAnswering(url, '/-/ready', signal, (status) => status >= 200 && status < 300),
  });
  return { url, stop: () => stopChild(child) };
}
