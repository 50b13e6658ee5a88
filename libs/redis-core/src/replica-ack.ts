import { types } from 'node:util';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './create-redis';
import type { SentinelFailoverGate } from './sentinel-failover-gate';

/**
 * How many replicas must hold a write before it is acknowledged to a user, and how long to
 * wait for them. Redis replication is asynchronous: without this, a failover discards whatever
 * the old master had not yet sent, and the user was told it was done.
 */
export interface ReplicaAckPolicy {
  /** `WAIT` numreplicas; 0 turns the wait off (standalone). */
  replicas: number;
  /** `WAIT` timeout in ms; kept below the command timeout so the wait itself cannot hang. */
  timeoutMs: number;
}

/** A write that Redis took but could not copy to enough replicas in time: answer 503. */
export class ReplicaAckError extends Error {
  readonly code = 'REDIS_NOT_REPLICATED';
  constructor(
    readonly acknowledged: number,
    readonly wanted: number,
    timeoutMs: number,
    reason?: string,
  ) {
    super(
      reason
        ? `${reason}; the write may or may not survive it, retry`
        : `the write reached ${acknowledged} of ${wanted} Redis replica(s) within ${timeoutMs} ms; it may or may not survive a failover, retry`,
    );
    this.name = 'ReplicaAckError';
  }
}

const policies = new WeakMap<object, ReplicaAckPolicy>();
const ackPools = new WeakMap<object, RedisClient[]>();

/**
 * Connections of their own for acknowledged writes: `WAIT` holds its connection until the
 * replicas answer (up to the ack timeout when one is gone), and every command queued behind it
 * on a shared connection (reads included) would wait or time out with it.
 */
export const ACK_CONNECTIONS = 2;

/**
 * The connections `writeAcknowledged` may run a pipeline on: the client's ack pool when it has
 * replicas to wait for, else the client itself. Define custom commands on each before use.
 */
export function ackConnections(client: RedisClient): RedisClient[] {
  if (replicaAckPolicyOf(client).replicas === 0) return [client];
  ackClient(client);
  return [...(ackPools.get(client) ?? []), client];
}

/**
 * Disconnects an ack connection for good. A Cluster disconnected while it is still connecting
 * (the pool is built at the first acknowledged write) finishes connecting afterwards and keeps
 * reconnect timers alive, so a process that closed everything never exits: disconnect again
 * when it comes up.
 */
function endDuplicate(duplicate: RedisClient): void {
  duplicate.disconnect();
  const again = () => duplicate.disconnect();
  duplicate.once('connect', again);
  duplicate.once('ready', again);
  setTimeout(again, 1000).unref();
}

function ackClient(client: RedisClient): RedisClient {
  let pool = ackPools.get(client);
  if (!pool) {
    // Same options as the client (offline queue off: a Cluster's offline queue has no
    // command timeout, so a queued write could wait forever).
    pool = Array.from({ length: ACK_CONNECTIONS }, () => {
      const duplicate: RedisClient =
        'refreshSlotsCache' in client ? client.duplicate() : client.duplicate();
      duplicate.on('error', () => {});
      return duplicate;
    });
    const created = pool;
    // Ended with the client; a client connected again later builds a new pool.
    client.once('end', () => {
      created.forEach(endDuplicate);
      if (ackPools.get(client) === created) ackPools.delete(client);
    });
    // A Sentinel client reconnects when Sentinel names a new master: take the ack connections
    // along, so none stays on a demoted or paused old master. (A Cluster follows slots itself.)
    if (!('refreshSlotsCache' in client)) {
      client.on('ready', () => {
        if (ackPools.get(client) === created) created.forEach((d) => d.disconnect(true));
      });
    }
    ackPools.set(client, pool);
  }
  // A connection still (re)connecting is skipped; with none ready, the client's own serves.
  for (let i = 0; i < pool.length; i += 1) {
    const candidate = pool[(next + i) % pool.length];
    if (candidate.status === 'ready') {
      next = (next + i + 1) % pool.length;
      return candidate;
    }
  }
  return client;
}
let next = 0;
const gates = new WeakMap<object, () => SentinelFailoverGate>();

/**
 * Attaches the policy to a client (createRedis does this from the config), and for Sentinel a
 * failover gate, started on the first acknowledged write and closed with the client.
 */
export function setReplicaAckPolicy(
  client: RedisClient,
  policy: ReplicaAckPolicy,
  gate?: () => SentinelFailoverGate,
): void {
  policies.set(client, policy);
  if (!gate) return;
  let started: SentinelFailoverGate | undefined;
  gates.set(client, () => {
    if (!started) {
      started = gate();
      client.once('end', () => started?.close());
    }
    return started;
  });
}

/** Refuses an acknowledgement that a Sentinel failover may undo (see SentinelFailoverGate). */
function failoverGuard(client: RedisClient): (acknowledged: boolean) => void {
  const gate = gates.get(client)?.();
  if (!gate) return () => {};
  if (gate.inFailover) throw new ReplicaAckError(0, 1, 0, 'a Sentinel failover is in progress');
  const epoch = gate.epoch;
  return () => {
    if (gate.epoch !== epoch) {
      throw new ReplicaAckError(0, 1, 0, 'a Sentinel failover began while the write was in flight');
    }
  };
}

/** The client's policy; none attached means no wait. */
export function replicaAckPolicyOf(client: RedisClient): ReplicaAckPolicy {
  return policies.get(client) ?? { replicas: 0, timeoutMs: 0 };
}

function checkAck(acknowledged: unknown, policy: ReplicaAckPolicy): void {
  const count = Number(acknowledged);
  if (!(count >= policy.replicas))
    throw new ReplicaAckError(count || 0, policy.replicas, policy.timeoutMs);
}

/**
 * Runs `write` (a pipeline of one or more commands on one slot) followed by `WAIT` on the same
 * connection, and resolves with the reply of each write command once enough replicas hold
 * them. Same connection matters: WAIT counts the writes of the connection it is sent on. With
 * replicas to wait for, the pipeline belongs to one of `ACK_CONNECTIONS` connections of the
 * client's own (`connection`, to define a script on), so a slow WAIT never delays reads.
 * Rejects with the command's own error, or `ReplicaAckError` when replicas lag.
 */
export async function writeAcknowledged(
  client: RedisClient,
  write: (pipeline: ChainableCommander, connection: RedisClient) => ChainableCommander,
): Promise<unknown[]> {
  try {
    return await writeOnce(client, write);
  } catch (error) {
    // ioredis neither follows a MOVED inside a pipeline that writes nor updates its slot map
    // from it; a MOVED write did not happen, so refreshing the map and trying once more is safe.
    if (!isMoved(error)) throw error;
    const used = replicaAckPolicyOf(client).replicas > 0 ? ackClient(client) : client;
    if (!('refreshSlotsCache' in used)) throw error;
    await new Promise<void>((resolve) => used.refreshSlotsCache(() => resolve()));
    return writeOnce(client, write);
  }
}

function isMoved(error: unknown): boolean {
  return (
    isError(error) &&
    error.name === 'ReplyError' &&
    /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/.test(error.message)
  );
}

async function writeOnce(
  client: RedisClient,
  write: (pipeline: ChainableCommander, connection: RedisClient) => ChainableCommander,
): Promise<unknown[]> {
  const policy = replicaAckPolicyOf(client);
  const guard = policy.replicas > 0 ? failoverGuard(client) : () => {};
  const connection = policy.replicas > 0 ? ackClient(client) : client;
  const pipeline = write(connection.pipeline(), connection);
  const commands = pipeline.length;
  if (policy.replicas > 0) pipeline.call('WAIT', policy.replicas, policy.timeoutMs);
  const results = (await pipeline.exec()) ?? [];
  const replies: unknown[] = [];
  for (let i = 0; i < commands; i += 1) {
    const [error, reply] = results[i] ?? [new Error('no reply')];
    if (error) throw error;
    replies.push(reply);
  }
  if (policy.replicas > 0) {
    const [error, acknowledged] = results[commands] ?? [new Error('no WAIT reply')];
    if (error) throw error;
    checkAck(acknowledged, policy);
    guard(true);
  }
  return replies;
}

/**
 * Waits until the writes already made on `key`'s connection are on enough replicas. Prefer
 * `writeAcknowledged`; this is for writes made by code that owns its own command (a library).
 * On a Cluster the `EXISTS key` routes the WAIT to the node that took the write. It runs on
 * `client`'s own connection (it must: WAIT counts that connection's writes), so a lagging
 * replica delays whatever else is queued there.
 */
export async function awaitReplicas(client: RedisClient, key: string): Promise<void> {
  const policy = replicaAckPolicyOf(client);
  if (policy.replicas === 0) return;
  const guard = failoverGuard(client);
  const results =
    (await client.pipeline().exists(key).call('WAIT', policy.replicas, policy.timeoutMs).exec()) ??
    [];
  const [error, acknowledged] = results[1] ?? [new Error('no WAIT reply')];
  if (error) throw error;
  checkAck(acknowledged, policy);
  guard(true);
}

function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/**
 * Reply errors that mean "not now" (failover, loading, busy script, memory full), not a bug.
 * UNBLOCKED is what a `WAIT` in flight gets when its master is demoted to a replica.
 */
const TRANSIENT_REPLIES =
  /^(READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|NOREPLICAS|LOADING|BUSY|OOM|MOVED|ASK|UNBLOCKED)\b/;

/** What ioredis and the socket say when Redis is away: not a bug of the caller. */
const AWAY_MESSAGES =
  /^(Command timed out|Connection is (closed|aborted|discarded)|Command aborted due to connection close|Stream isn't writeable|Cluster (is disconnected|is disconnecting|is ended|isn't ready)|Node is disconnected|None of startup nodes is available|Too many Cluster redirections|All sentinels are unreachable|Failed to refresh slots cache|Ready check failed|Socket timeout|connect ETIMEDOUT|Reached the max retries per request limit)/;
const AWAY_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError', 'AbortError']);
const AWAY_CODES =
  /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/;

/**
 * True when an error means Redis is away or mid-failover (timeout, closed connection, a
 * replica or a cluster that cannot take the write now, a write not replicated in time): the
 * caller answers 503 and the client may retry. False for anything else (wrong type, script
 * error, a bug in the caller), which must surface as a 500 rather than hide as an outage.
 */
export function isRedisUnavailable(error: unknown): boolean {
  // Structural, not `instanceof`: socket errors may come from another realm (Jest's VM).
  if (!isError(error)) return false;
  if (error instanceof ReplicaAckError || error.name === 'ReplicaAckError') return true;
  if (error.name === 'ReplyError') return TRANSIENT_REPLIES.test(error.message);
  const code = (error as { code?: unknown }).code;
  return (
    AWAY_NAMES.has(error.name) ||
    (typeof code === 'string' && AWAY_CODES.test(code)) ||
    AWAY_MESSAGES.test(error.message)
  );
}
