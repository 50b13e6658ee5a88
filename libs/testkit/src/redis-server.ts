import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { captureOutput, spawnTracked, stopChild, waitUntilReady } from './child-processes';
import { containersAvailable } from './container-runtime';
import { freePort, waitForPort } from './free-port';
import { log } from './log';

/** A real Redis server for a test, with the fault controls a failure test needs. */
export interface RedisServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Where it came from: `env`, `container` or `process`. */
  readonly source: 'env' | 'container' | 'process';
  /** SIGSTOP: the socket stays open and nothing answers, like a stalled server. */
  pause(): Promise<void>;
  /** SIGCONT after `pause`. */
  resume(): Promise<void>;
  /** Stops the server (SIGKILL when `hard`), keeping the port for `start`. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again, empty, on the same port. */
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Needs pause/kill/start: never use `REDIS_URL` from the environment. @default false */
  faults?: boolean;
  /** Extra `redis-server` arguments (process mode only). */
  args?: string[];
  /** The port (process mode). @default a free port */
  port?: number;
  /**
   * Writes a config file into the server's directory and returns the leading arguments that
   * replace the defaults (e.g. `[file, '--sentinel']`); process mode only.
   */
  configFile?: (dir: string) => string[];
  /**
   * How long a started process may take to accept connections before it is killed and the start
   * fails, naming its address (process mode). @default 10000
   */
  startTimeoutMs?: number;
}

const notControllable = (what: string) => async () => {
  throw new Error(`${what} is not possible on a Redis from REDIS_URL; ask for { faults: true }`);
};

function envServer(url: string): RedisServer {
  const parsed = new URL(url);
  return {
    url,
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    source: 'env',
    pause: notControllable('pause'),
    resume: notControllable('resume'),
    kill: notControllable('kill'),
    start: notControllable('start'),
    stop: async () => {},
  };
}

async function containerServer(): Promise<RedisServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withExposedPorts(6379)
    .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  const host = container.getHost();
  const port = container.getMappedPort(6379);
  const { getContainerRuntimeClient } = await import('testcontainers');
  const client = await getContainerRuntimeClient();
  const docker = client.container.getById(container.getId());
  return {
    url: `redis://${host}:${port}`,
    host,
    port,
    source: 'container',
    pause: async () => void (await docker.pause()),
    resume: async () => void (await docker.unpause()),
    kill: async () => void (await docker.kill()),
    start: async () => void (await docker.start()),
    stop: async () => void (await container.stop()),
  };
}

/** Starts `redis-server` on a free port of 127.0.0.1 with nothing persisted. */
export async function processServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'testkit-redis-'));
  let child: ChildProcess | undefined;
  const args = options.configFile
    ? [...options.configFile(dir), ...(options.args ?? [])]
    : [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--protected-mode',
        'no',
        ...(options.args ?? []),
      ];
  const start = async () => {
    const started = spawnTracked('redis-server', args, { cwd: dir });
    const output = captureOutput(started);
    child = started;
    try {
      await waitUntilReady(started, {
        what: `redis-server accepting connections on 127.0.0.1:${port}`,
        timeoutMs: options.startTimeoutMs ?? 10000,
        ready: (signal) => waitForPort(port, Number.MAX_SAFE_INTEGER, '127.0.0.1', signal),
        output,
      });
    } catch (error) {
      child = undefined;
      if (/ENOENT/.test((error as Error).message)) {
        throw new Error(
          `cannot run redis-server (install the Debian package redis-server): ${(error as Error).message}`,
        );
      }
      throw error;
    }
  };
  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const current = () => {
    if (!child) throw new Error('redis-server is not running');
    return child;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    source: 'process',
    pause: async () => void current().kill('SIGSTOP'),
    resume: async () => void current().kill('SIGCONT'),
    kill: async (hard = true) => {
      if (child) await stopChild(child, hard ? 'SIGKILL' : 'SIGTERM');
      child = undefined;
    },
    start,
    stop: async () => {
      if (child) await stopChild(child, 'SIGKILL');
      child = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A real Redis, in DESIGN's order: `REDIS_URL` from the environment (unless faults are needed),
 * a container when a Docker engine answers, else a local `redis-server` process.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  let server: RedisServer;
  if (process.env.REDIS_URL && !options.faults && !options.args) {
    server = envServer(process.env.REDIS_URL);
  } else if (!options.args && (await containersAvailable())) {
    server = await containerServer();
  } else {
    server = await processServer(options);
  }
  log(`redis: ${server.source} ${server.url}`);
  return server;
}

/** `count` independent Redis servers (for a Redlock quorum), each with fault controls. */
export async function startRedisServers(
  count: number,
  options: RedisServerOptions = {},
): Promise<RedisServer[]> {
  return Promise.all(Array.from({ length: count }, () => startRedis({ faults: true, ...options })));
}
