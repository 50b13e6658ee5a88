import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createSigner, createVerifier } from 'fast-jwt';
import { httpLoad, startReplicas, startTopology, uniquePrefix } from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { call, registerAndLogin, startDatabase, testConfig } from '../test/auth-harness';

const SECONDS = 6;
const TOP = 15;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, a workspace file, or Node itself. */
function placeOf(url: string): string {
  const inPackage = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (inPackage) return inPackage[1];
  const inWorkspace = /\/(apps|libs)\/([^/]+)\//.exec(url);
  if (inWorkspace) return `${inWorkspace[1]}/${inWorkspace[2]}`;
  return url.startsWith('node:') ? url : url ? 'node' : '(native)';
}

/** Self time per function and per place, as shares of all samples (idle included). */
function summarize(profile: Profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const functions = new Map<string, number>();
  const places = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const time = profile.timeDeltas[i] ?? 0;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    total += time;
    const where = placeOf(frame.url);
    const name = `${frame.functionName || '(anonymous)'} ${where}${frame.url ? `:${frame.lineNumber}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + time);
    places.set(where, (places.get(where) ?? 0) + time);
  });
  const top = (map: Map<string, number>) =>
    Object.fromEntries(
      [...map]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP)
        .map(([name, time]) => [name, Math.round((1000 * time) / total) / 10]),
    );
  return { selfTimePercentByFunction: top(functions), selfTimePercentByPlace: top(places) };
}

/**
 * Where GET /auth/me spends its time next to the JWT baseline: one replica on standalone Redis,
 * each route under the bench's load while the V8 profiler samples this process (server and load
 * generator share it, as in the bench). Writes bench-results/auth-session-profile.json.
 */
async function main(): Promise<void> {
  const loadBefore = loadavg()[0];
  const stopDatabase: Array<() => unknown> = [];
  const database = await startDatabase((step) => stopDatabase.push(step));
  const topology = await startTopology('standalone');
  const key = 'bench-jwt-key-0123456789abcdefghijklmnop';
  const verify = createVerifier({ key, algorithms: ['HS256'] });
  const replicas = await startReplicas(1, async () => {
    const app = await buildApp(
      testConfig({
        redis: topology.config,
        databaseUrl: database.url,
        keyPrefix: uniquePrefix('prof'),
      }),
    );
    app.get('/bench/jwt-me', async (request) => {
      const claims = verify((request.headers.authorization ?? '').slice(7)) as {
        sub: string;
        name: string;
      };
      return { user: { id: claims.sub, username: claims.name } };
    });
    return app;
  });
  const inspector = new Session();
  inspector.connect();
  try {
    const url = replicas.url(0);
    const { username, password, cookie } = await registerAndLogin(url);
    const login = await call(url, 'POST', '/auth/login', {
      body: { username, password, token: true },
    });
    const jwt = createSigner({ key })({ sub: '1', name: username });
    const routes: Array<{ name: string; url: string; headers: Record<string, string> }> = [
      {
        name: 'jwt GET /bench/jwt-me',
        url: `${url}/bench/jwt-me`,
        headers: { authorization: `Bearer ${jwt}` },
      },
      {
        name: 'session GET /auth/me, cookie',
        url: `${url}/auth/me`,
        headers: { cookie: `sid=${cookie}` },
      },
      {
        name: 'session GET /auth/me, bearer',
        url: `${url}/auth/me`,
        headers: { authorization: `Bearer ${String(login.body?.token)}` },
      },
    ];
    await inspector.post('Profiler.enable');
    const results: Record<string, unknown> = {};
    for (const route of routes) {
      await httpLoad({ scenario: 'warm-up', ...route, connections: 20, durationSeconds: 2 });
      await inspector.post('Profiler.start');
      const load = await httpLoad({
        scenario: route.name,
        ...route,
        connections: 20,
        durationSeconds: SECONDS,
      });
      const { profile } = await inspector.post('Profiler.stop');
      results[route.name] = { rps: load.rps, p99Ms: load.p99Ms, ...summarize(profile as Profile) };
    }
    const dir = join(__dirname, '..', '..', '..', 'bench-results');
    mkdirSync(dir, { recursive: true });
    const report = {
      service: 'auth-session',
      what: 'V8 CPU profile of each route under load (20 connections, one replica, standalone Redis; server and autocannon in one process); self time as % of samples, idle included',
      routes: results,
      machine: {
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadavg()[0],
        node: process.version,
      },
      date: new Date().toISOString(),
    };
    writeFileSync(join(dir, 'auth-session-profile.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    inspector.disconnect();
    await replicas.close();
    await Promise.allSettled([topology.stop(), ...stopDatabase.map((step) => step())]);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
