import { runTool } from '../external-tool';

/**
 * Runs `promtool <args>` (Debian package prometheus, in tools/prerequisites.sh) and returns its
 * complaints: empty when it exits 0, else its output. Missing, it is an error saying what to
 * install.
 */
export function promtool(args: string[], command = 'promtool'): string[] {
  const result = runTool(command, args, 'the alert rules cannot be checked and unit-tested', {
    timeoutMs: 60_000,
  });
  if (result.status === 0) return [];
  return [
    `promtool ${args.join(' ')} exited ${result.status}:\n${(result.stdout + result.stderr).trim()}`,
  ];
}
