// PostgreSQL for the local system: `DATABASE_URL`, `npm start`'s embedded server whose data stays
// between runs, or testkit's (a fresh one); then every service's database.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  captureOutput,
  freePort,
  spawnTracked,
  startPostgres,
  stopChild,
  waitUntilReady,
} from '@redis-patterns/testkit';
import { DEV_POSTGRES_PORT, portFree } from './services';

export interface PostgresHandle {
  url: string;
  /** SIGSTOP of the server and its backends (testkit's embedded or container server only). */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

export interface DatabaseOptions {
  /** Start a PostgreSQL even when `DATABASE_URL` is set. */
  ownPostgres?: boolean;
  /** `npm start`'s embedded PostgreSQL, its data kept in `<dataDir>/postgres` between runs. */
  persistentPostgres?: boolean;
  /** Where the persistent PostgreSQL keeps its data. */
  dataDir: string;
  /** A free port even when `DEV_POSTGRES_PORT` is free. */
  freePorts?: boolean;
}

/**
 * testkit's embedded PostgreSQL runner, with its data kept in `dir` between runs. In its own
 * process group, as testkit starts it, so that a kill takes `postgres` with the runner.
 */
async function persistentPostgres(
  dir: string,
  port: number,
): Promise<PostgresHandle & { stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to write its directory.
  chmodSync(dir, 0o777);
  const data = join(dir, 'postgres');
  const runner = require
    .resolve('@redis-patterns/testkit/package.json')
    .replace(/package\.json$/, 'bin/embedded-postgres.mjs');
  const child = spawnTracked(process.execPath, [runner, data, String(port), 'persistent'], {
    detached: true,
  });
  const url = await waitUntilReady(child, {
    what: `embedded PostgreSQL on 127.0.0.1:${port} (data in ${data}) printing its ready line`,
    timeoutMs: 60_000,
    output: captureOutput(child),
    ready: (signal) =>
      new Promise<string>((resolve, reject) => {
        let buffer = '';
        const onData = (chunk: Buffer) => {
          buffer += chunk.toString();
          const line = buffer.split('\n').find((l) => l.startsWith('{'));
          if (line) resolve((JSON.parse(line) as { url: string }).url);
        };
        child.stdout?.on('data', onData);
        signal.addEventListener('abort', () => {
          child.stdout?.off('data', onData);
          reject(new Error('stopped waiting'));
        });
      }),
  });
  const signal = (sig: 'STOP' | 'CONT') => {
    const pid = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0].trim();
    spawnSync('pkill', [`-${sig}`, '-P', pid]);
    process.kill(Number(pid), `SIG${sig}`);
  };
  return {
    url,
    pause: async () => signal('STOP'),
    resume: async () => signal('CONT'),
    stop: () => stopChild(child, 'SIGTERM', 10000),
  };
}

/** Creates each database in `names` that does not exist yet; returns the URL of each. */
export async function ensureDatabases(
  baseUrl: string,
  names: string[],
): Promise<Record<string, string>> {
  const client = new Client({ connectionString: baseUrl });
  await client.connect();
  try {
    for (const name of names) {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        name,
      ]);
      if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
    }
  } finally {
    await client.end();
  }
  return Object.fromEntries(
    names.map((name) => {
      const url = new URL(baseUrl);
      url.pathname = `/${name}`;
      return [name, url.toString()];
    }),
  );
}

/** PostgreSQL: `DATABASE_URL`, the persistent one of `npm start`, or testkit's. */
export async function startPostgresServer(
  options: DatabaseOptions,
  stoppers: (() => Promise<void>)[],
  log: (line: string) => void,
): Promise<{ postgres: PostgresHandle | null; databaseUrl: string }> {
  if (process.env.DATABASE_URL && !options.ownPostgres) {
    log(`using DATABASE_URL ${new URL(process.env.DATABASE_URL).host}`);
    return { postgres: null, databaseUrl: process.env.DATABASE_URL };
  }
  if (options.persistentPostgres) {
    const port =
      !options.freePorts && (await portFree(DEV_POSTGRES_PORT))
        ? DEV_POSTGRES_PORT
        : await freePort();
    const dataDir = options.dataDir;
    const server = await persistentPostgres(dataDir, port);
    stoppers.push(() => server.stop());
    log(`embedded PostgreSQL on 127.0.0.1:${port} (data in ${join(dataDir, 'postgres')})`);
    return { postgres: server, databaseUrl: server.url };
  }
  const server = await startPostgres({ faults: true });
  stoppers.push(() => server.stop());
  return { postgres: server, databaseUrl: server.url };
}
