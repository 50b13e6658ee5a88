/** One line on stderr about what the harness did, unless TESTKIT_QUIET is set. */
export function log(message: string): void {
  if (!process.env.TESTKIT_QUIET) process.stderr.write(`[testkit] ${message}\n`);
}
