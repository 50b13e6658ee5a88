import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { processServer, type RedisServer } from './redis-server';
import { log } from './log';

const run = promisify(execFile);

/** A local Redis Cluster of `masters` masters (no replicas), each node with fault controls. */
export interface RedisCluster {
  readonly nodes: RedisServer[];
  /** `host:port,host:port` for REDIS_CLUSTER_NODES. */
  readonly nodeList: string;
  stop(): Promise<void>;
}

/**
 * Starts `masters` `redis-server --cluster-enabled yes` processes and joins them with
 * `redis-cli --cluster create`, then waits for `cluster_state:ok` on every node.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i += 1) {
      nodes.push(
        await processServer({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${i}.conf`,
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    }
    const addresses = nodes.map((node) => `${node.host}:${node.port}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 15000 },
    ).catch((error: Error) => {
      throw new Error(`redis-cli --cluster create ${addresses.join(' ')} failed: ${error.message}`);
    });
    const deadline = Date.now() + 15000;
    for (const node of nodes) {
      for (;;) {
        const { stdout } = await run(
          'redis-cli',
          ['-h', node.host, '-p', String(node.port), 'cluster', 'info'],
          { timeout: 2000 },
        );
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) {
          throw new Error(
            `cluster_state not ok on ${node.host}:${node.port} within 15000 ms: ${stdout}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    log(`redis cluster: ${addresses.join(',')}`);
    return {
      nodes,
      nodeList: addresses.join(','),
      stop: async () => void (await Promise.all(nodes.map((node) => node.stop()))),
    };
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
}
