// The local cluster: Redis and PostgreSQL when not given, then every service as separate
// processes (built dist/server.js) with N replicas each, the gateway in front. Used by
// `npm start` (fixed ports, gateway on 3000) and by the end-to-end tests and drills (free ports).
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, chmodSync } = require('node:fs');
const net = require('node:net');
const { join } = require('node:path');

const ROOT = join(__dirname, '..', '..');

/** Services in start order: the gateway last, it needs the others' URLs. */
const SERVICES = [
  { name: 'product-api-cache', port: 3001, database: 'rp_products' },
  { name: 'auth-session', port: 3002, database: 'rp_auth' },
  { name: 'inventory-lock', port: 3003, database: 'rp_inventory' },
  { name: 'game-leaderboard', port: 3004 },
  { name: 'chat-realtime', port: 3005 },
  { name: 'gateway-ratelimit', port: 3000 },
];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function dockerWorks() {
  return (
    has('docker') && spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status === 0
  );
}

/** A child process that dies with us. */
function track(children, child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function startRedis({ dataDir, port, children, log }) {
  if (has('redis-server')) {
    const dir = join(dataDir, 'redis');
    mkdirSync(dir, { recursive: true });
    const args = [
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
    ];
    let child;
    const start = async () => {
      child = track(children, spawn('redis-server', args, { stdio: 'ignore' }));
      await waitForPort(port, 10000);
    };
    await start();
    log(`redis-server started on 127.0.0.1:${port}`);
    return {
      url: `redis://127.0.0.1:${port}`,
      pause: () => child.kill('SIGSTOP'),
      resume: () => child.kill('SIGCONT'),
      kill: () =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGCONT');
          child.kill('SIGKILL');
        }),
      start,
    };
  }
  if (dockerWorks()) {
    const name = `redis-patterns-dev-${process.pid}`;
    execFileSync('docker', [
      'run',
      '-d',
      '--rm',
      '--name',
      name,
      '-p',
      `127.0.0.1:${port}:6379`,
      'redis:7-alpine',
      'redis-server',
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    await waitForPort(port, 30000);
    log(`redis container ${name} on 127.0.0.1:${port}`);
    const docker = (...args) => execFileSync('docker', args, { stdio: 'ignore' });
    children.add({
      kill: () => spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' }),
      exitCode: null,
      signalCode: null,
      once() {},
    });
    return {
      url: `redis://127.0.0.1:${port}`,
      pause: () => docker('pause', name),
      resume: () => docker('unpause', name),
      kill: async () => docker('kill', name),
      start: async () => docker('start', name),
    };
  }
  throw new Error(
    'redis-server not found and no Docker engine answers: install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL',
  );
}

async function startPostgres({ dataDir, port, children, log }) {
  const dir = join(dataDir, 'postgres');
  mkdirSync(dataDir, { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to write its directory.
  chmodSync(dataDir, 0o777);
  const runner = join(ROOT, 'libs', 'testkit', 'bin', 'embedded-postgres.mjs');
  const child = track(
    children,
    spawn(process.execPath, [runner, dir, String(port), 'persistent'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  let errors = '';
  child.stderr.on('data', (chunk) => (errors = (errors + chunk).slice(-4000)));
  const url = await new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      const line = buffer.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line).url);
    });
    child.once('exit', (code) =>
      reject(new Error(`embedded PostgreSQL exited with ${code}: ${errors}`)),
    );
  });
  log(`embedded PostgreSQL started on 127.0.0.1:${port} (data in ${dir})`);
  const pid = () =>
    require('node:fs').readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0].trim();
  const signal = (sig) => {
    spawnSync('pkill', [`-${sig}`, '-P', pid()]);
    process.kill(Number(pid()), `SIG${sig}`);
  };
  return { url, pause: () => signal('STOP'), resume: () => signal('CONT') };
}

async function ensureDatabases(baseUrl, names) {
  const { Client } = require('pg');
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

async function waitReady(url, child, timeoutMs, output) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${url} exited with ${child.exitCode}: ${output()}`);
    const ok = await fetch(`${url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`${url} not ready after ${timeoutMs} ms: ${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Starts the whole system. Options: replicas (2), freePorts (false: gateway on 3000, services on
 * their DESIGN ports + 10 per replica), dataDir ('.data'), env ({service: {VAR: value}}),
 * log (console.log), seed (true), readyTimeoutMs (60000).
 */
async function startCluster(options = {}) {
  const replicas = options.replicas ?? 2;
  const log = options.log ?? ((line) => console.log(line));
  const dataDir = options.dataDir ?? join(ROOT, '.data');
  const children = new Set();
  const killAll = () => {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  };
  process.once('exit', killAll);

  const stopAll = async () => {
    const services = [...children].filter((c) => c.service);
    await Promise.all(services.map((child) => stopChild(child)));
    await Promise.all([...children].map((child) => stopChild(child)));
    process.removeListener('exit', killAll);
  };

  try {
    for (const service of SERVICES) {
      if (!existsSync(join(ROOT, 'apps', service.name, 'dist', 'server.js'))) {
        throw new Error(`apps/${service.name}/dist/server.js is missing: run npm run build`);
      }
    }
    let redis = null;
    let redisUrl = process.env.REDIS_URL;
    if (!redisUrl || options.ownRedis) {
      const port = options.freePorts
        ? await freePort()
        : (await portFree(6380))
          ? 6380
          : await freePort();
      redis = await startRedis({ dataDir, port, children, log });
      redisUrl = redis.url;
    } else log(`using REDIS_URL ${redisUrl}`);

    let postgres = null;
    let databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl || options.ownPostgres) {
      const port = options.freePorts
        ? await freePort()
        : (await portFree(5433))
          ? 5433
          : await freePort();
      postgres = await startPostgres({
        dataDir: options.freePorts ? join(dataDir, `pg-${port}`) : dataDir,
        port,
        children,
        log,
      });
      databaseUrl = postgres.url;
    } else log(`using DATABASE_URL ${new URL(databaseUrl).host}`);
    const databases = await ensureDatabases(
      databaseUrl,
      SERVICES.filter((s) => s.database).map((s) => s.database),
    );

    if (options.seed !== false) {
      const seed = join(ROOT, 'apps', 'product-api-cache', 'dist', 'seed.js');
      if (existsSync(seed)) {
        const result = spawnSync(process.execPath, [seed], {
          env: { ...process.env, DATABASE_URL: databases.rp_products, LOG_LEVEL: 'warn' },
          encoding: 'utf8',
        });
        if (result.status !== 0) throw new Error(`product seed failed: ${result.stderr}`);
        log('products seeded');
      }
    }

    const ports = {};
    for (const service of SERVICES) {
      ports[service.name] = [];
      for (let i = 0; i < replicas; i += 1) {
        if (options.freePorts) ports[service.name].push(await freePort());
        else {
          const port = service.port + 10 * i;
          if (!(await portFree(port)))
            throw new Error(`port ${port} for ${service.name} is taken: stop what uses it`);
          ports[service.name].push(port);
        }
      }
    }
    const list = (name) => ports[name].map((p) => `http://127.0.0.1:${p}`).join(',');
    const common = {
      NODE_ENV: 'development',
      REDIS_URL: redisUrl,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
    };
    const perService = {
      'product-api-cache': { DATABASE_URL: databases.rp_products },
      'auth-session': { DATABASE_URL: databases.rp_auth },
      'inventory-lock': { DATABASE_URL: databases.rp_inventory },
      'game-leaderboard': {},
      'chat-realtime': { AUTH_URL: list('auth-session').split(',')[0], CHAT_ALLOW_GUESTS: 'true' },
      'gateway-ratelimit': {
        PRODUCTS_URL: list('product-api-cache'),
        AUTH_URL: list('auth-session'),
        INVENTORY_URL: list('inventory-lock'),
        LEADERBOARD_URL: list('game-leaderboard'),
        CHAT_URL: list('chat-realtime'),
      },
    };

    const running = [];
    for (const service of SERVICES) {
      const started = ports[service.name].map((port, index) => {
        const env = {
          ...process.env,
          ...common,
          ...perService[service.name],
          ...(options.env?.[service.name] ?? {}),
          PORT: String(port),
        };
        delete env.DEV_CHILD;
        const child = track(
          children,
          spawn(process.execPath, [join(ROOT, 'apps', service.name, 'dist', 'server.js')], {
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        );
        child.service = service.name;
        let output = '';
        const keep = (chunk) => {
          output = (output + chunk).slice(-8000);
          if (options.echo) process.stdout.write(`[${service.name}#${index}] ${chunk}`);
        };
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        return {
          service: service.name,
          index,
          port,
          url: `http://127.0.0.1:${port}`,
          child,
          output: () => output,
          env,
        };
      });
      running.push(...started);
    }
    await Promise.all(
      running.map((r) => waitReady(r.url, r.child, options.readyTimeoutMs ?? 60000, r.output)),
    );

    return {
      redisUrl,
      databaseUrl,
      databases,
      redis,
      postgres,
      gatewayUrl: running.find((r) => r.service === 'gateway-ratelimit').url,
      instances: running,
      /** Restarts one instance on its port (after a kill), waiting until it is ready. */
      async restart(instance) {
        const child = track(
          children,
          spawn(process.execPath, [join(ROOT, 'apps', instance.service, 'dist', 'server.js')], {
            env: instance.env,
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        );
        child.service = instance.service;
        child.stdout.resume();
        child.stderr.resume();
        instance.child = child;
        await waitReady(instance.url, child, options.readyTimeoutMs ?? 60000, () => '');
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function stopChild(child, graceMs = 10000) {
  return new Promise((resolve) => {
    if (
      child.exitCode !== null ||
      child.signalCode !== null ||
      typeof child.once !== 'function' ||
      !child.pid
    ) {
      try {
        if (!child.pid) child.kill('SIGKILL');
      } catch {
        // gone
      }
      return resolve();
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  });
}

module.exports = { startCluster, SERVICES, freePort };
