import type { RedisClient } from '@redis-patterns/redis-core';

/** What a Redlock master says about itself (INFO and the Sentinel hello channel). */
export interface MasterFacts {
  /** `redis_mode`: standalone, cluster or sentinel. */
  mode: string;
  /** `cluster_enabled:1`. */
  clusterEnabled: boolean;
  /** `role`: master or slave. */
  role: string;
  /** `connected_slaves`. */
  connectedReplicas: number;
  /** Subscribers of `__sentinel__:hello`: every Sentinel watching this server subscribes. */
  sentinelSubscribers: number;
  /** `run_id`: the same on two URLs means one server listed twice. */
  runId: string;
}

/** `field:value` lines of an INFO reply. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return fields;
}

export function factsFromInfo(info: string, sentinelSubscribers: number): MasterFacts {
  const fields = parseInfo(info);
  return {
    mode: fields.redis_mode ?? 'standalone',
    clusterEnabled: fields.cluster_enabled === '1',
    role: fields.role ?? 'master',
    connectedReplicas: Number(fields.connected_slaves ?? 0) || 0,
    sentinelSubscribers,
    runId: fields.run_id ?? '',
  };
}

/**
 * Why a server cannot serve as a Redlock master, or undefined when it can. Redlock's safety
 * argument needs masters that fail independently and never hand a key to a server that did not
 * see it: a Cluster node owns only some slots, a replica refuses writes, and a master with
 * replicas (Sentinel-managed or not) can fail over to one that missed the latest locks.
 */
export function masterProblems(facts: MasterFacts): string[] {
  if (facts.mode === 'sentinel') {
    return ['is a Sentinel (redis_mode:sentinel), not a data server'];
  }
  const problems: string[] = [];
  if (facts.clusterEnabled || facts.mode === 'cluster') {
    problems.push(
      'is a Redis Cluster node (cluster_enabled:1): a sku whose hash slot lives on another node answers MOVED, so its lock could never be taken',
    );
  }
  if (facts.role === 'slave') {
    problems.push(
      'is a replica (role:slave): it refuses the lock writes (READONLY), and servers that replicate one another are not independent',
    );
  }
  if (facts.connectedReplicas > 0) {
    problems.push(
      `has ${facts.connectedReplicas} connected replica(s) (connected_slaves:${facts.connectedReplicas}): replication is asynchronous, so a failover to one of them can grant a lock that is still held`,
    );
  }
  if (facts.sentinelSubscribers > 0) {
    problems.push(
      `is watched by Sentinel (${facts.sentinelSubscribers} subscriber(s) of __sentinel__:hello): Sentinel may promote a replica that lacks the latest locks`,
    );
  }
  return problems;
}

/** Pairs of labels whose servers share one run_id (one server listed under two names). */
export function duplicateServers(masters: Array<{ label: string; runId: string }>): string[] {
  const seen = new Map<string, string>();
  const duplicates: string[] = [];
  for (const { label, runId } of masters) {
    if (!runId) continue;
    const first = seen.get(runId);
    if (first) duplicates.push(`${first} and ${label} are the same server (run_id ${runId})`);
    else seen.set(runId, label);
  }
  return duplicates;
}

/** Asks one connected server what it is, once; rejects when it does not answer in time. */
async function inspectOnce(client: RedisClient): Promise<MasterFacts> {
  const info = String(await client.call('INFO'));
  if (parseInfo(info).redis_mode === 'sentinel') return factsFromInfo(info, 0);
  const numsub = (await client.call('PUBSUB', 'NUMSUB', '__sentinel__:hello')) as unknown[];
  return factsFromInfo(info, Number(numsub[1] ?? 0) || 0);
}

/**
 * Asks one connected server what it is. A connected master that misses one command timeout (a
 * loaded machine, a busy server) has not said it is unfit, so it is asked `attempts` times
 * before the error stands: a single slow INFO must not refuse the whole start.
 */
export async function inspectMaster(client: RedisClient, attempts = 4): Promise<MasterFacts> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await inspectOnce(client);
    } catch (error) {
      if (attempt >= attempts || client.status !== 'ready') throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
