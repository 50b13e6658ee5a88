// `npm start`: runs tools/dev/start.ts (TypeScript, through @swc-node/register, workspace libs
// from their sources) with the arguments given:
//   npm start                          standalone Redis
//   npm start -- --redis=sentinel      1 master + 2 replicas + 3 Sentinels
//   npm start -- --redis=cluster       3 masters + 1 replica each
//   REDIS_TOPOLOGY=cluster npm start   the same, from the environment
// Other options: --no-build, --logs (every service's output), --redlock-masters <n>,
// --observe (a local Prometheus on :9090 scraping every replica, when `prometheus` is installed).
'use strict';
const { spawn } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const child = spawn(
  process.execPath,
  [
    '--conditions=@redis-patterns/source',
    '-r',
    '@swc-node/register',
    join(__dirname, 'start.ts'),
    ...process.argv.slice(2),
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tools', 'e2e', 'tsconfig.spec.json') },
  },
);
// Ctrl-C reaches the whole process group and the launcher stops everything itself; a SIGTERM
// sent to this process alone is passed on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
