import { duplicateServers, factsFromInfo, masterProblems, parseInfo } from './master-inspection';

const info = (fields: Record<string, string | number>) =>
  ['# Server', ...Object.entries(fields).map(([k, v]) => `${k}:${v}`), ''].join('\r\n');

describe('Redlock master inspection', () => {
  it('parses INFO fields and ignores section headers', () => {
    expect(
      parseInfo(
        '# Server\r\nredis_mode:standalone\r\nrun_id:abc\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n',
      ),
    ).toEqual({
      redis_mode: 'standalone',
      run_id: 'abc',
      cluster_enabled: '0',
    });
  });

  it('accepts an independent standalone master', () => {
    const facts = factsFromInfo(
      info({
        redis_mode: 'standalone',
        run_id: 'r1',
        role: 'master',
        connected_slaves: 0,
        cluster_enabled: 0,
      }),
      0,
    );
    expect(facts).toEqual({
      mode: 'standalone',
      clusterEnabled: false,
      role: 'master',
      connectedReplicas: 0,
      sentinelSubscribers: 0,
      runId: 'r1',
    });
    expect(masterProblems(facts)).toEqual([]);
  });

  it.each([
    [
      'a Cluster node',
      { redis_mode: 'cluster', cluster_enabled: 1, role: 'master' },
      0,
      /Cluster node.*MOVED/,
    ],
    ['a replica', { role: 'slave', connected_slaves: 0 }, 0, /replica \(role:slave\)/],
    ['a master with replicas', { role: 'master', connected_slaves: 2 }, 0, /2 connected replica/],
    ['a master under Sentinel', { role: 'master', connected_slaves: 0 }, 3, /watched by Sentinel/],
    ['a Sentinel', { redis_mode: 'sentinel' }, 0, /is a Sentinel/],
  ])('refuses %s', (_name, fields, sentinels, message) => {
    const problems = masterProblems(factsFromInfo(info(fields), sentinels));
    expect(problems.join('; ')).toMatch(message);
  });

  it('names every problem of a Sentinel-managed master with replicas', () => {
    const problems = masterProblems(
      factsFromInfo(info({ role: 'master', connected_slaves: 1 }), 2),
    );
    expect(problems).toHaveLength(2);
  });

  it('finds one server listed under two names', () => {
    expect(
      duplicateServers([
        { label: 'redis://a:1', runId: 'x' },
        { label: 'redis://b:1', runId: 'y' },
        { label: 'redis://localhost:1', runId: 'x' },
      ]),
    ).toEqual(['redis://a:1 and redis://localhost:1 are the same server (run_id x)']);
  });
});
