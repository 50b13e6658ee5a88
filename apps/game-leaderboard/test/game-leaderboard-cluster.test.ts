import { get } from 'node:http';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  startRedisCluster,
  startReplicas,
  uniquePrefix,
  type RedisCluster,
  type Replicas,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';

const DAY = 86_400_000;

async function call(url: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

describe('game-leaderboard on a 3-master Redis Cluster (hash-tagged keys)', () => {
  let cluster: RedisCluster;
  let replicas: Replicas<ServiceInstance>;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    const config = {
      logLevel: 'silent',
      redis: {
        clusterNodes: cluster.nodes.map((node) => ({ host: node.host, port: node.port })),
        commandTimeoutMs: 1000,
      },
      keyPrefix: uniquePrefix('lb'),
      retentionMs: { daily: DAY, weekly: DAY, monthly: DAY },
      tieEpochMs: Date.parse('2026-01-01T00:00:00Z'),
      streamIntervalMs: 100,
    };
    replicas = await startReplicas(2, () => buildApp(config));
  }, 60_000);

  afterAll(async () => {
    await replicas?.close();
    await cluster?.stop();
  });

  it('submits, reads, streams and deletes on boards spread over the slots', async () => {
    const boards = ['alpha', 'beta', 'gamma', 'delta'];
    // Opened on replica 0 before any write; every submission goes through replica 1.
    let opened: () => void = () => {};
    const open = new Promise<void>((resolve) => (opened = resolve));
    const streamed = new Promise<string>((resolve, reject) => {
      get(`${replicas.url(0)}/leaderboards/delta/stream`, (response) => {
        response.setEncoding('utf8');
        let text = '';
        response.on('data', (chunk: string) => {
          text += chunk;
          opened();
          if (text.includes('"playerId":"p3"')) {
            response.destroy();
            resolve(text);
          }
        });
      }).on('error', reject);
    });
    await open;
    for (const board of boards) {
      for (const [i, playerId] of ['p1', 'p2', 'p3'].entries()) {
        const answer = await call(replicas.url(1), 'POST', `/leaderboards/${board}/scores`, {
          playerId,
          score: 10 * (i + 1),
          mode: 'increment',
        });
        expect(answer.status).toBe(200);
      }
      const top = await call(replicas.url(1), 'GET', `/leaderboards/${board}/top?period=weekly`);
      expect(top.body.entries.map((e: { playerId: string }) => e.playerId)).toEqual([
        'p3',
        'p2',
        'p1',
      ]);
      const around = await call(replicas.url(0), 'GET', `/leaderboards/${board}/players/p1/around`);
      expect(around.body.rank).toBe(3);
      const friends = await call(replicas.url(1), 'POST', `/leaderboards/${board}/ranks`, {
        playerIds: ['p1', 'nobody'],
      });
      expect(friends.body.unknown).toEqual(['nobody']);
      expect(
        (await call(replicas.url(0), 'DELETE', `/leaderboards/${board}/players/p1`)).status,
      ).toBe(204);
    }
    await expect(streamed).resolves.toContain('"playerId":"p3"');
  });
});
