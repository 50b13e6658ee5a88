// `npm run drills`: runs tools/e2e/src/drills-cli.ts (TypeScript, through @swc-node/register,
// workspace libs from their sources) with the arguments given. Needs the built services
// (npm run build).
//   npm run drills                         standalone Redis: replicas killed and stopped, Redis
//                                          paused and restarted empty, PostgreSQL paused
//   npm run drills -- --redis=sentinel     Sentinel: forced failover, crash, partitioned master
//   npm run drills -- --redis=cluster      Cluster: the same on the master of the drill's keys
//   npm run drills -- --redis=all          the three in turn (also REDIS_TOPOLOGY=...)
// Options: --reduced (CI size, writes no doc), --only <kind>[,<kind>] (kill, term, redis-pause,
// redis-restart, postgres-pause; failover, crash, partition).
'use strict';
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const result = spawnSync(
  process.execPath,
  [
    '--conditions=@redis-patterns/source',
    '-r',
    '@swc-node/register',
    join(root, 'tools', 'e2e', 'src', 'drills-cli.ts'),
    ...process.argv.slice(2),
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tools', 'e2e', 'tsconfig.spec.json') },
  },
);
process.exit(result.status ?? 1);
