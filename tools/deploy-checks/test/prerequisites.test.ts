import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../src/repo';
import {
  PREREQUISITES_SCRIPT,
  prerequisites,
  runPrerequisites,
  unlistedCommands,
} from '../src/prerequisites';

describe('tools/prerequisites.sh, the one list of what npm test needs', () => {
  it('is what .ci/run installs', () => {
    expect(readFileSync(join(repoRoot, '.ci', 'run'), 'utf8')).toMatch(
      /^bash tools\/prerequisites\.sh --install$/m,
    );
  });

  it('lists every program the tested code starts', () => {
    expect(prerequisites().map(({ packageName }) => packageName)).toEqual(
      expect.arrayContaining(['redis-server', 'redis-tools', 'prometheus', 'kubectl', 'chromium']),
    );
    expect(unlistedCommands()).toEqual([]);
  });

  it('names each missing program, its package and what needs it, and fails', () => {
    const { status, stderr } = runPrerequisites({ PATH: '/nonexistent' });
    expect(status).toBe(1);
    for (const { packageName, command } of prerequisites()) {
      expect(stderr).toContain(`missing: ${command} (Debian package ${packageName}), for `);
    }
    expect(stderr).toMatch(/install them: sudo tools\/prerequisites\.sh --install\n$/);
  });

  it('is satisfied on this machine (else it says what to install)', () => {
    const { status, stderr } = runPrerequisites(process.env);
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('prints the package names for the README line', () => {
    const result = spawnSync('/bin/bash', [PREREQUISITES_SCRIPT, '--packages'], {
      encoding: 'utf8',
    });
    expect(result.stdout.trim().split(' ')).toEqual(
      prerequisites().map(({ packageName }) => packageName),
    );
  });
});
