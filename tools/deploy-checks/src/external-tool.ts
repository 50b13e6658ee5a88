import { spawnSync } from 'node:child_process';

/** What one run of an external tool printed. */
export interface ToolRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a tool from tools/prerequisites.sh, bounded by `timeoutMs`. A tool that is not installed
 * is an error naming it, what it was needed for and how to install it, never a skip.
 */
export function runTool(
  command: string,
  args: string[],
  purpose: string,
  options: { timeoutMs?: number; cwd?: string } = {},
): ToolRun {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    cwd: options.cwd,
  });
  const error = result.error as NodeJS.ErrnoException | undefined;
  if (error?.code === 'ENOENT') {
    throw new Error(
      `${command} is not installed, so ${purpose}: install it with ` +
        '`sudo tools/prerequisites.sh --install` (the list the README names; .ci/run runs it)',
    );
  }
  if (error?.code === 'ETIMEDOUT') {
    throw new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms`);
  }
  if (error) throw error;
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}
