import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { freePort } from './free-port';
import { log } from './log';
import { processServer, startRedis, type RedisServer } from './redis-server';

/** The Redis deployments a service's README can support. */
export type TopologyKind = 'standalone' | 'cluster' | 'sentinel';

export const TOPOLOGY_KINDS: readonly TopologyKind[] = ['standalone', 'cluster', 'sentinel'];

/** The shape of redis-core's `RedisConfig` that a topology fills in. */
export interface TopologyRedisConfig {
  url?: string;
  sentinels?: { host: string; port: number }[];
  sentinelMaster?: string;
  clusterNodes?: { host: string; port: number }[];
}

/** One running Redis deployment with the fault controls a failover test needs. */
export interface RedisTopology {
  readonly kind: TopologyKind;
  /** Spread into a service's `redis` config (add timeouts as the test needs). */
  readonly config: TopologyRedisConfig;
  /** The standard variables (REDIS_URL, REDIS_SENTINELS, ...) for a service process. */
  readonly env: Record<string, string>;
  /** Every data node (masters and replicas; Sentinels are not in it). */
  readonly servers: RedisServer[];
  /** Whether writes can be acknowledged by a replica (false for standalone). */
  readonly hasReplicas: boolean;
  /** The data node that is master now (on a Cluster: the one owning `slotOfKey`'s slot). */
  master(key?: string): Promise<RedisServer>;
  /** A graceful promotion (SENTINEL FAILOVER, CLUSTER FAILOVER); resolves once a replica leads. */
  failover(key?: string): Promise<FailoverResult>;
  /** Resolves once every data node is the master or a replica in sync (after any fault). */
  converged(): Promise<void>;
  /** SIGKILL the master and wait until a replica is promoted; `restart()` brings it back empty. */
  killMaster(key?: string): Promise<FailoverResult & { restart(): Promise<void> }>;
  /**
   * SIGSTOP the master (its clients keep an open socket nobody answers, like a partition) and
   * wait for a promotion; `heal()` resumes it and waits until it has become a replica.
   */
  partitionMaster(key?: string): Promise<FailoverResult & { heal(): Promise<void> }>;
  stop(): Promise<void>;
}

export interface FailoverResult {
  /** The server that led before. */
  oldMaster: RedisServer;
  /** The server promoted. */
  newMaster: RedisServer;
  /** From the fault to a replica leading, in ms. */
  promotedMs: number;
}

/** One of the master faults a deployment meets, as a failover test injects it. */
export interface MasterFault {
  name: string;
  /**
   * Injects the fault on the master of `key` (on a Cluster; one master elsewhere) and resolves
   * once a replica leads; `recover()` undoes it (restart, heal) and waits until converged.
   */
  inject(
    topology: RedisTopology,
    key?: string,
  ): Promise<FailoverResult & { recover(): Promise<void> }>;
}

/** A graceful promotion, a crash and a partition: the faults every failover test runs. */
export const MASTER_FAULTS: readonly MasterFault[] = [
  {
    name: 'a forced failover',
    inject: async (topology, key) => ({
      ...(await topology.failover(key)),
      recover: () => topology.converged(),
    }),
  },
  {
    name: 'a SIGKILLed master',
    inject: async (topology, key) => {
      const result = await topology.killMaster(key);
      return {
        ...result,
        recover: async () => {
          await result.restart();
          await topology.converged();
        },
      };
    },
  },
  {
    name: 'a partitioned (SIGSTOPped) master',
    inject: async (topology, key) => {
      const result = await topology.partitionMaster(key);
      return {
        ...result,
        recover: async () => {
          await result.heal();
          await topology.converged();
        },
      };
    },
  },
];

export interface TopologyOptions {
  /** Extra `redis-server` arguments for every data node. */
  args?: string[];
  /** Sentinel `down-after-milliseconds` and Cluster `cluster-node-timeout`. @default 1000 */
  failureDetectionMs?: number;
}

/**
 * The topologies a property suite runs on: `REDIS_TOPOLOGIES` (comma list) when set, else all
 * three. CI sets nothing, so every suite runs everywhere.
 */
export function topologiesUnderTest(): TopologyKind[] {
  const wanted = process.env.REDIS_TOPOLOGIES?.split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (!wanted?.length) return [...TOPOLOGY_KINDS];
  for (const kind of wanted) {
    if (!TOPOLOGY_KINDS.includes(kind as TopologyKind)) {
      throw new Error(
        `REDIS_TOPOLOGIES: unknown topology "${kind}" (${TOPOLOGY_KINDS.join(', ')})`,
      );
    }
  }
  return wanted as TopologyKind[];
}

/**
 * The topologies with replicas among `topologiesUnderTest()`, for failover suites; Sentinel
 * when `REDIS_TOPOLOGIES` names neither, so a failover suite always runs somewhere.
 */
export function replicatedTopologiesUnderTest(): TopologyKind[] {
  const kinds = topologiesUnderTest().filter((kind) => kind !== 'standalone');
  return kinds.length ? kinds : ['sentinel'];
}

/** Starts a topology of `kind` on free ports of 127.0.0.1. */
export async function startTopology(
  kind: TopologyKind,
  options: TopologyOptions = {},
): Promise<RedisTopology> {
  if (kind === 'cluster') {
    // Another process may take a node's bus port between the check and the start: try twice.
    try {
      return await startClusterTopology(options);
    } catch (error) {
      log(`redis cluster did not form (${(error as Error).message.split('\n')[0]}); retrying once`);
      return startClusterTopology(options);
    }
  }
  if (kind === 'sentinel') return startSentinelTopology(options);
  return startStandaloneTopology(options);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 50 ms until it returns a value, failing after `timeoutMs` with `what`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(50);
  }
}

/** One admin command to a node, on a short-lived connection that never retries. */
async function admin(server: { host: string; port: number }, ...args: string[]): Promise<unknown> {
  const client = new Redis({
    host: server.host,
    port: server.port,
    lazyConnect: true,
    commandTimeout: 1000,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(args[0], ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

async function info(server: RedisServer, section: string): Promise<Record<string, string>> {
  const text = String(await admin(server, 'INFO', section));
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1);
  }
  return fields;
}

/** A free port low enough for a Cluster node whose bus port (port + 10000) is free too. */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = await freePort();
    if (port + 10000 <= 65535 && (await portFree(port + 10000))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) for a Cluster node after 200 tries');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function startStandaloneTopology(options: TopologyOptions): Promise<RedisTopology> {
  const server = options.args
    ? await processServer({ args: options.args })
    : await startRedis({ faults: true });
  const noFailover = async (): Promise<never> => {
    throw new Error('a standalone Redis has no replica to fail over to');
  };
  return {
    kind: 'standalone',
    config: { url: server.url },
    env: { REDIS_URL: server.url },
    servers: [server],
    hasReplicas: false,
    master: async () => server,
    converged: async () => {},
    failover: noFailover,
    killMaster: noFailover,
    partitionMaster: noFailover,
    stop: () => server.stop(),
  };
}

// ---------------------------------------------------------------------------------- Sentinel

const MASTER_NAME = 'mymaster';

// Redis 7 delays a diskless full sync by 5 s to batch replicas; tests want them in sync now.
const SYNC_NOW = ['--repl-diskless-sync-delay', '0'];

async function startSentinelTopology(options: TopologyOptions): Promise<RedisTopology> {
  const { started, sentinels } = await launchSentinelServers(options);
  return sentinelTopology(started, sentinels);
}

/** A master, two replicas in sync and three Sentinels that know them all (stopped on failure). */
async function launchSentinelServers(
  options: TopologyOptions,
): Promise<{ started: RedisServer[]; sentinels: RedisServer[] }> {
  const detection = options.failureDetectionMs ?? 1000;
  const started: RedisServer[] = [];
  const sentinels: RedisServer[] = [];
  const stopAll = async () => {
    await Promise.allSettled([...sentinels, ...started].map((server) => server.stop()));
  };
  try {
    const master = await processServer({ args: [...SYNC_NOW, ...(options.args ?? [])] });
    started.push(master);
    for (let i = 0; i < 2; i += 1) {
      started.push(
        await processServer({
          args: [
            '--replicaof',
            master.host,
            String(master.port),
            ...SYNC_NOW,
            ...(options.args ?? []),
          ],
        }),
      );
    }
    await until('both replicas in sync with the master', async () => {
      const fields = await info(master, 'replication');
      const online = [fields.slave0, fields.slave1].filter((line) =>
        line?.includes('state=online'),
      );
      return online.length === 2 ? true : undefined;
    });
    for (let i = 0; i < 3; i += 1) {
      const port = await freePort();
      sentinels.push(
        await processServer({
          port,
          configFile: (dir) => {
            const file = `${dir}/sentinel.conf`;
            writeFileSync(
              file,
              [
                `port ${port}`,
                `bind 127.0.0.1`,
                `dir ${dir}`,
                `sentinel monitor ${MASTER_NAME} ${master.host} ${master.port} 2`,
                `sentinel down-after-milliseconds ${MASTER_NAME} ${detection}`,
                `sentinel failover-timeout ${MASTER_NAME} ${Math.max(3 * detection, 3000)}`,
                `sentinel parallel-syncs ${MASTER_NAME} 2`,
                '',
              ].join('\n'),
            );
            return [file, '--sentinel'];
          },
        }),
      );
    }
    await until('three Sentinels that know each other and both replicas', async () => {
      for (const sentinel of sentinels) {
        const state = (await admin(sentinel, 'SENTINEL', 'MASTER', MASTER_NAME)) as string[];
        const fields = pairs(state);
        if (fields['num-other-sentinels'] !== '2' || fields['num-slaves'] !== '2') return undefined;
      }
      return true;
    });
  } catch (error) {
    await stopAll();
    throw error;
  }
  return { started, sentinels };
}

/** The topology's controls over servers `launchSentinelServers` started. */
function sentinelTopology(started: RedisServer[], sentinels: RedisServer[]): RedisTopology {
  const stopAll = async () => {
    await Promise.allSettled([...sentinels, ...started].map((server) => server.stop()));
  };
  const sentinelNodes = sentinels.map((s) => ({ host: s.host, port: s.port }));
  const byPort = (port: number) => {
    const found = started.find((server) => server.port === port);
    if (!found) throw new Error(`Sentinel names an unknown master on port ${port}`);
    return found;
  };
  const currentMaster = async (): Promise<RedisServer> => {
    for (const sentinel of sentinels) {
      try {
        const [, port] = (await admin(
          sentinel,
          'SENTINEL',
          'GET-MASTER-ADDR-BY-NAME',
          MASTER_NAME,
        )) as string[];
        return byPort(Number(port));
      } catch {
        // this Sentinel may be the one paused or killed; ask the next
      }
    }
    throw new Error('no Sentinel answers');
  };
  const promotedFrom = async (oldMaster: RedisServer, since: number) => {
    const newMaster = await until('a Sentinel promotion', async () => {
      const now = await currentMaster();
      if (now === oldMaster) return undefined;
      const fields = await info(now, 'replication');
      return fields.role === 'master' ? now : undefined;
    });
    return { oldMaster, newMaster, promotedMs: Date.now() - since };
  };
  const becameReplica = (server: RedisServer) =>
    until(`the old master ${server.port} to become a replica`, async () => {
      const fields = await info(server, 'replication');
      return fields.role === 'slave' && fields.master_link_status === 'up' ? true : undefined;
    });

  log(
    `redis sentinel: master ${started[0].port}, replicas ${started[1].port},${started[2].port}, sentinels ${sentinels.map((s) => s.port).join(',')}`,
  );
  const sentinelList = sentinelNodes.map((n) => `${n.host}:${n.port}`).join(',');
  return {
    kind: 'sentinel',
    config: { sentinels: sentinelNodes, sentinelMaster: MASTER_NAME },
    env: { REDIS_SENTINELS: sentinelList, REDIS_SENTINEL_MASTER: MASTER_NAME },
    servers: started,
    hasReplicas: true,
    master: currentMaster,
    failover: async () => {
      const oldMaster = await currentMaster();
      const since = Date.now();
      await admin(sentinels[0], 'SENTINEL', 'FAILOVER', MASTER_NAME);
      return promotedFrom(oldMaster, since);
    },
    converged: async () => {
      const master = await currentMaster();
      for (const server of started) if (server !== master) await becameReplica(server);
    },
    killMaster: async () => {
      const oldMaster = await currentMaster();
      const since = Date.now();
      await oldMaster.kill(true);
      const result = await promotedFrom(oldMaster, since);
      return {
        ...result,
        restart: async () => {
          await oldMaster.start();
          await becameReplica(oldMaster);
        },
      };
    },
    partitionMaster: async () => {
      const oldMaster = await currentMaster();
      const since = Date.now();
      await oldMaster.pause();
      const result = await promotedFrom(oldMaster, since);
      return {
        ...result,
        heal: async () => {
          await oldMaster.resume();
          await becameReplica(oldMaster);
        },
      };
    },
    stop: stopAll,
  };
}

function pairs(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return fields;
}

// ----------------------------------------------------------------------------------- Cluster

interface ClusterNodeLine {
  id: string;
  port: number;
  master: boolean;
  failed: boolean;
  masterId: string;
  slots: [number, number][];
}

function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.split(' ');
      return {
        id,
        port: Number(address.split('@')[0].split(':').pop()),
        master: flags.includes('master'),
        failed: flags.includes('fail'),
        masterId,
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => {
            const [from, to] = slot.split('-').map(Number);
            return [from, to ?? from] as [number, number];
          }),
      };
    });
}

/** CRC16/XMODEM hash slot of a key, honouring `{hash tags}` (the Cluster specification). */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i += 1) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}

async function startClusterTopology(options: TopologyOptions): Promise<RedisTopology> {
  return clusterTopology(await launchClusterNodes(options));
}

/** Six nodes joined as three masters with one replica each, in sync (stopped on failure). */
async function launchClusterNodes(options: TopologyOptions): Promise<RedisServer[]> {
  const timeout = options.failureDetectionMs ?? 1000;
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < 6; i += 1) {
      const port = await clusterPort();
      nodes.push(
        await processServer({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            String(timeout),
            ...SYNC_NOW,
            ...(options.args ?? []),
          ],
        }),
      );
    }
    const addresses = nodes.map((node) => `${node.host}:${node.port}`);
    // Three masters first, then one replica for each: redis-cli pairs them deterministically.
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) => {
      execFile(
        'redis-cli',
        ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'],
        (error, _stdout, stderr) =>
          error ? reject(new Error(`${error.message}${stderr}`)) : resolve(),
      );
    });
    await until('cluster_state:ok on six nodes with three replicas in sync', async () => {
      for (const node of nodes) {
        const text = String(await admin(node, 'CLUSTER', 'INFO'));
        if (!text.includes('cluster_state:ok')) return undefined;
      }
      let synced = 0;
      for (const node of nodes) {
        const fields = await info(node, 'replication');
        if (fields.role === 'slave' && fields.master_link_status === 'up') synced += 1;
      }
      return synced === 3 ? true : undefined;
    });
  } catch (error) {
    await Promise.allSettled(nodes.map((node) => node.stop()));
    throw error;
  }
  return nodes;
}

/** Waits until `server` is a replica with its master link up. */
function inSyncAsReplica(server: RedisServer, what: string): Promise<true> {
  return until(what, async () => {
    const fields = await info(server, 'replication');
    return fields.role === 'slave' && fields.master_link_status === 'up' ? true : undefined;
  });
}

/**
 * CLUSTER FAILOVER on `replica` until `promoted` sees it done. A manual failover is abandoned
 * silently when the replica cannot catch up with its master in time (a loaded machine): ask
 * again, and the last time without the handshake (FORCE).
 */
async function askForFailover<T>(
  replica: RedisServer,
  oldPort: number,
  promoted: (timeoutMs: number) => Promise<T>,
): Promise<T> {
  for (const mode of [[], [], ['FORCE']]) {
    // Refused once the replica already is the master (a late promotion): then it is done.
    await admin(replica, 'CLUSTER', 'FAILOVER', ...mode).catch(() => undefined);
    try {
      return await promoted(mode.length ? 30000 : 10000);
    } catch (error) {
      if (mode.length) throw error;
      log(`redis cluster: manual failover of ${oldPort} not done in 10 s, asking again`);
    }
  }
  throw new Error('unreachable');
}

/** The topology's controls over nodes `launchClusterNodes` started. */
function clusterTopology(nodes: RedisServer[]): RedisTopology {
  const alive = new Set(nodes);
  const byPort = (port: number) => {
    const found = nodes.find((node) => node.port === port);
    if (!found) throw new Error(`the Cluster names an unknown node on port ${port}`);
    return found;
  };
  const view = async (): Promise<ClusterNodeLine[]> => {
    for (const node of nodes) {
      if (!alive.has(node)) continue;
      try {
        return parseClusterNodes(String(await admin(node, 'CLUSTER', 'NODES')));
      } catch {
        // paused or down: ask another
      }
    }
    throw new Error('no Cluster node answers');
  };
  const ownerOf = async (slot: number) => {
    const lines = await view();
    const owner = lines.find(
      (line) => line.master && !line.failed && line.slots.some(([a, b]) => slot >= a && slot <= b),
    );
    if (!owner) return undefined;
    return { owner, lines };
  };
  const masterOf = async (key = 'probe') => {
    const found = await until(`the master of slot ${keySlot(key)}`, () => ownerOf(keySlot(key)));
    return byPort(found.owner.port);
  };
  const promotedFrom = async (
    oldMaster: RedisServer,
    key: string,
    since: number,
    timeoutMs = 30000,
  ) => {
    const newMaster = await until(
      'a Cluster promotion and cluster_state:ok',
      async () => {
        const found = await ownerOf(keySlot(key));
        if (!found || found.owner.port === oldMaster.port) return undefined;
        for (const node of alive) {
          const text = String(await admin(node, 'CLUSTER', 'INFO'));
          if (!text.includes('cluster_state:ok')) return undefined;
        }
        return byPort(found.owner.port);
      },
      timeoutMs,
    );
    return { oldMaster, newMaster, promotedMs: Date.now() - since };
  };
  const becameReplica = (server: RedisServer) =>
    inSyncAsReplica(server, `node ${server.port} to rejoin as a replica`);
  const replicaOf = async (master: RedisServer) => {
    const lines = await view();
    const id = lines.find((line) => line.port === master.port)?.id;
    const replica = lines.find((line) => !line.master && line.masterId === id && !line.failed);
    if (!replica) throw new Error(`master ${master.port} has no replica`);
    return byPort(replica.port);
  };

  const seeds = nodes.map((node) => ({ host: node.host, port: node.port }));
  log(`redis cluster: ${nodes.map((node) => node.port).join(',')} (3 masters, 3 replicas)`);
  return {
    kind: 'cluster',
    config: { clusterNodes: seeds },
    env: { REDIS_CLUSTER_NODES: seeds.map((n) => `${n.host}:${n.port}`).join(',') },
    servers: nodes,
    hasReplicas: true,
    master: masterOf,
    failover: async (key = 'probe') => {
      const oldMaster = await masterOf(key);
      const replica = await replicaOf(oldMaster);
      const since = Date.now();
      return askForFailover(replica, oldMaster.port, (timeoutMs) =>
        promotedFrom(oldMaster, key, since, timeoutMs),
      );
    },
    converged: async () => {
      await until('three masters and three replicas in sync', async () => {
        let replicas = 0;
        for (const node of nodes) {
          const fields = await info(node, 'replication');
          if (fields.role === 'slave' && fields.master_link_status === 'up') replicas += 1;
        }
        return replicas === 3 ? true : undefined;
      });
    },
    killMaster: async (key = 'probe') => {
      const oldMaster = await masterOf(key);
      const since = Date.now();
      alive.delete(oldMaster);
      await oldMaster.kill(true);
      const result = await promotedFrom(oldMaster, key, since);
      return {
        ...result,
        restart: async () => {
          // Restarted without its nodes file it would be a stranger: keep it (kill keeps the dir).
          await oldMaster.start();
          alive.add(oldMaster);
          await becameReplica(oldMaster);
        },
      };
    },
    partitionMaster: async (key = 'probe') => {
      const oldMaster = await masterOf(key);
      const since = Date.now();
      alive.delete(oldMaster);
      await oldMaster.pause();
      const result = await promotedFrom(oldMaster, key, since);
      return {
        ...result,
        heal: async () => {
          await oldMaster.resume();
          alive.add(oldMaster);
          await becameReplica(oldMaster);
        },
      };
    },
    stop: async () => void (await Promise.allSettled(nodes.map((node) => node.stop()))),
  };
}
