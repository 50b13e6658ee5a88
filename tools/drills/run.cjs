// `npm run drills`: runs tools/e2e/src/drills-cli.ts (TypeScript, through @swc-node/register) with
// the arguments given (--reduced, --only kill,term,...). Needs the built services (npm run build).
'use strict';
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const result = spawnSync(
  process.execPath,
  [
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
