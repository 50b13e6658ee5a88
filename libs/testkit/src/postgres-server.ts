import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import {
  captureOutput,
  ChildNotReadyError,
  spawnTracked,
  stopChild,
  waitUntilReady,
} from './child-processes';
import { containersAvailable } from './container-runtime';
import { freePort } from './free-port';
import { log } from './log';

/** A real PostgreSQL server for a test file. */
export interface PostgresServer {
  /** URL of the server's maintenance database. */
  readonly url: string;
  readonly source: 'env' | 'container' | 'embedded';
  /** Creates a fresh, empty database and returns its URL; it is dropped by `stop`. */
  createDatabase(): Promise<string>;
  /** SIGSTOP the server (embedded only). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  // Bounded: a paused or dead server must fail the call, not hang it.
  const client = new Client({
    connectionString: url,
    connectionTimeoutMillis: 10000,
    query_timeout: 30000,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function databaseFactory(url: string, created: string[]) {
  return async () => {
    const name = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    await withClient(url, (client) => client.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const target = new URL(url);
    target.pathname = `/${name}`;
    return target.toString();
  };
}

async function dropAll(url: string, created: string[]) {
  await withClient(url, async (client) => {
    for (const name of created) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }).catch(() => {});
}

/** Signals the postmaster and every backend it forked (a pause must stall open connections too). */
function signalPostgres(dataDir: string, signal: 'STOP' | 'CONT'): void {
  const pid = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0].trim();
  spawnSync('pkill', [`-${signal}`, '-P', pid]);
  process.kill(Number(pid), `SIG${signal}`);
}

/** Attempts at an embedded start: a free port taken again before PostgreSQL binds it is retried. */
const EMBEDDED_ATTEMPTS = 3;

/** One embedded PostgreSQL in a runner process that leads its own process group. */
async function embeddedAttempt(readyTimeoutMs: number): Promise<PostgresServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'testkit-pg-'));
  // The binaries run as the postgres user when we are root: it must be able to write here.
  chmodSync(dir, 0o777);
  const runner = require
    .resolve('@redis-patterns/testkit/package.json')
    .replace(/package\.json$/, 'bin/embedded-postgres.mjs');
  // Its own process group: a kill on a failed start takes initdb and postgres with it.
  const child: ChildProcess = spawnTracked(
    process.execPath,
    [runner, join(dir, 'data'), String(port)],
    { detached: true },
  );
  const output = captureOutput(child);
  let url: string;
  try {
    url = await waitUntilReady(child, {
      what: `embedded PostgreSQL (${runner}) on 127.0.0.1:${port} printing its ready line`,
      timeoutMs: readyTimeoutMs,
      ready: (signal) =>
        new Promise<string>((resolve, reject) => {
          let buffer = '';
          const onData = (chunk: Buffer) => {
            buffer += chunk.toString();
            const line = buffer.split('\n').find((candidate) => candidate.startsWith('{'));
            if (line) resolve((JSON.parse(line) as { url: string }).url);
          };
          child.stdout?.on('data', onData);
          signal.addEventListener('abort', () => {
            child.stdout?.off('data', onData);
            reject(new Error('stopped waiting'));
          });
        }),
      output,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const created: string[] = [];
  return {
    url,
    source: 'embedded',
    createDatabase: databaseFactory(url, created),
    pause: async () => signalPostgres(join(dir, 'data'), 'STOP'),
    resume: async () => signalPostgres(join(dir, 'data'), 'CONT'),
    stop: async () => {
      await stopChild(child, 'SIGTERM', 10000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function embeddedServer(readyTimeoutMs: number): Promise<PostgresServer> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await embeddedAttempt(readyTimeoutMs);
    } catch (error) {
      const portTaken =
        error instanceof ChildNotReadyError && /already in use|could not bind/i.test(error.output);
      if (!portTaken || attempt === EMBEDDED_ATTEMPTS) throw error;
      log(`postgres: port taken before PostgreSQL bound it, retrying (${attempt})`);
    }
  }
}

async function containerServer(): Promise<PostgresServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('postgres:16-alpine')
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage('database system is ready to accept connections', 2))
    .start();
  const url = `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
  const created: string[] = [];
  const { getContainerRuntimeClient } = await import('testcontainers');
  const docker = (await getContainerRuntimeClient()).container.getById(container.getId());
  return {
    url,
    source: 'container',
    createDatabase: databaseFactory(url, created),
    pause: async () => void (await docker.pause()),
    resume: async () => void (await docker.unpause()),
    stop: async () => void (await container.stop()),
  };
}

export interface PostgresOptions {
  /** Needs pause/resume: never use `DATABASE_URL` from the environment. @default false */
  faults?: boolean;
  /**
   * How long an embedded server may take to be ready before its runner, `initdb` and `postgres`
   * are killed and the start fails naming the port and the runner's last output; below Jest's
   * 30 s hook timeout so this message, not Jest's, is what a stuck start reports. @default 20000
   */
  readyTimeoutMs?: number;
}

/**
 * A real PostgreSQL, in DESIGN's order: `DATABASE_URL` from the environment (each test file
 * then works in databases of its own), a container, else an embedded server on a free port.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  let server: PostgresServer;
  const envUrl = process.env.DATABASE_URL;
  if (envUrl && !options.faults) {
    const created: string[] = [];
    server = {
      url: envUrl,
      source: 'env',
      createDatabase: databaseFactory(envUrl, created),
      pause: async () => {
        throw new Error('cannot pause a PostgreSQL from DATABASE_URL; ask for { faults: true }');
      },
      resume: async () => {},
      stop: () => dropAll(envUrl, created),
    };
  } else if (await containersAvailable()) {
    server = await containerServer();
  } else {
    server = await embeddedServer(options.readyTimeoutMs ?? 20000);
  }
  log(`postgres: ${server.source} ${new URL(server.url).host}`);
  return server;
}
