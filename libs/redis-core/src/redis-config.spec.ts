import { assertRedisUrl, describeRedis, parseNodeList, redisConfigFromEnv } from './redis-config';

describe('redisConfigFromEnv', () => {
  it('defaults to a local standalone server', () => {
    expect(redisConfigFromEnv({})).toEqual({ url: 'redis://127.0.0.1:6379' });
  });

  it('reads Cluster nodes, including IPv6', () => {
    const config = redisConfigFromEnv({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,[::1]:7001' });
    expect(config.clusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
  });

  it('reads Sentinels and the master name', () => {
    const config = redisConfigFromEnv({
      REDIS_SENTINELS: 's1:26379',
      REDIS_SENTINEL_MASTER: 'main',
    });
    expect(config.sentinels).toEqual([{ host: 's1', port: 26379 }]);
    expect(config.sentinelMaster).toBe('main');
  });

  it('names the variable when a value is wrong', () => {
    expect(() => assertRedisUrl('not-a-url')).toThrow(/REDIS_URL/);
    expect(() => assertRedisUrl('http://x')).toThrow(/REDIS_URL/);
    expect(assertRedisUrl('rediss://user:pw@host:6380/2')).toBe('rediss://user:pw@host:6380/2');
    expect(() => parseNodeList('host', 'REDIS_CLUSTER_NODES')).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => parseNodeList('host:99999', 'REDIS_SENTINELS')).toThrow(/REDIS_SENTINELS/);
  });

  it('describes a URL without its credentials', () => {
    expect(describeRedis({ url: 'rediss://u:secret@h:6380' })).not.toContain('secret');
  });
});
