import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './repo';

/** tools/prerequisites.sh: the Debian packages `npm test` needs, read from the script itself. */
export const PREREQUISITES_SCRIPT = join(repoRoot, 'tools', 'prerequisites.sh');

/** The script's list: each Debian package with the command that shows it is installed. */
export function prerequisites(): { packageName: string; command: string }[] {
  const text = readFileSync(PREREQUISITES_SCRIPT, 'utf8');
  const list = /REQUIRED=\(\n([\s\S]*?)\n\)/.exec(text)?.[1] ?? '';
  return [...list.matchAll(/^\s*'([^|']+)\|([^|']+)\|[^']*'$/gm)].map((match) => ({
    packageName: match[1],
    command: match[2],
  }));
}

/** Runs the script (check mode) with `env`; its exit status and what it printed. */
export function runPrerequisites(env: NodeJS.ProcessEnv): { status: number; stderr: string } {
  const result = spawnSync('/bin/bash', [PREREQUISITES_SCRIPT], {
    encoding: 'utf8',
    env,
    timeout: 30_000,
  });
  return { status: result.status ?? 1, stderr: result.stderr };
}

/** Commands every Debian machine has, or that come with Node.js: never a prerequisite. */
const BASE_SYSTEM = new Set(['node', 'npm', 'npx', 'sh', 'bash', 'sleep', 'grep', 'kill']);
/** Commands of a listed package besides the one the script checks. */
const ALSO_INSTALLED: Record<string, string[]> = { procps: ['ps', 'pkill', 'pgrep'] };

/** The folders whose code runs during `npm test`. */
function testedCode(root: string): string[] {
  const projects = (parent: string) =>
    readdirSync(join(root, parent)).map((name) => join(root, parent, name));
  return [
    ...projects('apps').flatMap((dir) => [join(dir, 'src'), join(dir, 'test')]),
    ...projects('libs').flatMap((dir) =>
      ['src', 'test', 'jest', 'bin'].map((sub) => join(dir, sub)),
    ),
    join(root, 'tools', 'deploy-checks', 'src'),
    join(root, 'tools', 'e2e'),
  ];
}

function codeFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'out-tsc') return [];
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return codeFiles(path);
    return /\.(ts|cjs|mjs|js)$/.test(entry) ? [path] : [];
  });
}

/**
 * Programs the tested code starts by name (`spawn('redis-server', ...)`, `execFile` and its
 * promisified aliases, testkit's `spawnTracked`, `/usr/bin/<name>` paths) that neither
 * tools/prerequisites.sh nor the base system provides: each needs a line in the script.
 */
export function unlistedCommands(root = repoRoot): string[] {
  const listed = new Set<string>(BASE_SYSTEM);
  for (const { packageName, command } of prerequisites()) {
    listed.add(command);
    for (const also of ALSO_INSTALLED[packageName] ?? []) listed.add(also);
  }
  const unlisted = new Set<string>();
  for (const file of testedCode(root).flatMap(codeFiles)) {
    const text = readFileSync(file, 'utf8');
    const aliases = [...text.matchAll(/const (\w+) = promisify\((?:execFile|exec)\)/g)].map(
      (match) => match[1],
    );
    const callers = ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'spawnTracked', ...aliases];
    const call = new RegExp(
      `\\b(?:${callers.join('|')})\\(\\s*['"\`]([a-z][a-z0-9._-]*)['"\`]`,
      'g',
    );
    const commands = [
      ...[...text.matchAll(call)].map((match) => match[1]),
      ...[...text.matchAll(/['"`]\/usr\/s?bin\/([a-z][a-z0-9._-]*)['"`]/g)].map(
        (match) => match[1],
      ),
    ];
    for (const command of commands) {
      if (!listed.has(command)) unlisted.add(`${command} (${relative(root, file)})`);
    }
  }
  return [...unlisted].sort();
}
