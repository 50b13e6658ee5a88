import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '@redis-patterns/service-kit';
import {
  eventually,
  perFileFixture,
  startTopology,
  topologiesUnderTest,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { configFromEnv, DEVELOPMENT_SECRET, envSchema } from '../src/config';
import { newUsername, SECRET, startDatabase, testConfig } from './auth-harness';

const SOURCE_SERVER = require.resolve('../src/server.ts');
const SOURCE_NODE_OPTIONS = '--conditions=@redis-patterns/source -r @swc-node/register';
const K8S_CONFIG = join(__dirname, '..', '..', '..', 'k8s', 'base', 'auth-session', 'config.env');

/** The k8s base ConfigMap of auth-session, as the pod's environment sees it. */
function k8sConfigEnv(): Record<string, string> {
  return Object.fromEntries(
    readFileSync(K8S_CONFIG, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** Starts the real process with `env` and returns how it ended: it must refuse to start. */
async function refusedStart(
  env: Record<string, string>,
): Promise<{ code: unknown; stderr: string }> {
  try {
    await promisify(execFile)(process.execPath, [SOURCE_SERVER], {
      env: {
        PATH: process.env.PATH,
        NODE_OPTIONS: SOURCE_NODE_OPTIONS,
        LOG_LEVEL: 'silent',
        PORT: '0',
        ...env,
      },
      timeout: 30_000,
    });
  } catch (error) {
    const { code, stderr } = error as { code: unknown; stderr: string };
    return { code, stderr };
  }
  throw new Error('the service started');
}

describe('the process refuses unsafe production settings, naming the variable only', () => {
  const PASSWORD = 'S3CRETPASS';
  it.each<[string, string, Record<string, string>]>([
    ['the development secret', 'SESSION_SECRET', { SESSION_SECRET: DEVELOPMENT_SECRET }],
    ['no secret', 'SESSION_SECRET', {}],
    ['a short secret', 'SESSION_SECRET', { SESSION_SECRET: `short-${PASSWORD}` }],
    [
      'a MySQL DATABASE_URL with a password',
      'DATABASE_URL',
      { SESSION_SECRET: SECRET, DATABASE_URL: `mysql://u:${PASSWORD}@h/x` },
    ],
    [
      'an http REDIS_URL with a password',
      'REDIS_URL',
      { SESSION_SECRET: SECRET, REDIS_URL: `http://u:${PASSWORD}@h:6379` },
    ],
  ])(
    '%s: exit 1, one line naming %s, never the value',
    async (_, variable, env) => {
      const { code, stderr } = await refusedStart({ NODE_ENV: 'production', ...env });
      expect(code).toBe(1);
      expect(stderr).toMatch(new RegExp(`^Invalid configuration: ${variable}\\b`));
      expect(stderr).not.toContain(PASSWORD);
      expect(stderr).not.toContain(DEVELOPMENT_SECRET);
    },
    40_000,
  );
});

// Issue 14: behind the gateway, with TRUST_PROXY=false, five wrong logins of one client locked
// every client out of that username (every key was `user:<gateway IP>`).
describe.each(topologiesUnderTest())('the k8s config behind the gateway on %s', (kind) => {
  const config = configFromEnv(
    loadConfig(envSchema, { ...k8sConfigEnv(), SESSION_SECRET: SECRET }),
  );
  const service = perFileFixture(async (cleanup) => {
    const [database, topology] = await Promise.all([startDatabase(cleanup), startTopology(kind)]);
    cleanup(() => topology.stop());
    const app = await buildApp(
      testConfig({
        redis: topology.config,
        databaseUrl: database.url,
        trustProxy: config.trustProxy,
        session: config.session,
      }),
    );
    cleanup(() => app.close());
    await app.ready();
    return app;
  });

  it('runs in production with Secure cookies and trusts the cluster ranges', () => {
    expect(k8sConfigEnv().NODE_ENV).toBe('production');
    expect(config.session.cookieSecure).toBe(true);
    expect(config.trustProxy).not.toBe(false);
  });

  it('locks out the client that guessed, not the others coming through the same gateway', async () => {
    const app = service();
    const username = newUsername();
    const password = 'correct horse battery';
    const gateway = '10.244.3.17';
    const ingress = '10.244.0.5';
    const viaGateway = (client: string, body: object) =>
      app.inject({
        method: 'POST',
        url: '/auth/login',
        remoteAddress: gateway,
        // As ingress-nginx and then the gateway append them; the first hop is client-chosen.
        headers: { 'x-forwarded-for': `6.6.6.6, ${client}, ${ingress}` },
        payload: body,
      });
    const register = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username, password },
    });
    expect(register.statusCode).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      statuses.push(
        (await viaGateway('198.51.100.23', { username, password: 'wrong password' })).statusCode,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    // The property is "not 429": a 503 (a fresh Cluster client's first writes) is retried, as
    // a client honouring Retry-After would.
    const other = await eventually(
      'a login of another client that is not 503',
      async () => {
        const answer = await viaGateway('203.0.113.80', { username, password });
        if (answer.statusCode === 503) throw new Error('503');
        return answer;
      },
      { timeoutMs: 5000, intervalMs: 250 },
    );
    expect(other.statusCode).toBe(200);
    // Secure, though the gateway speaks plain HTTP to the pod.
    expect(String(other.headers['set-cookie'])).toMatch(/; Secure/);
    const me = await app.inject({
      method: 'GET',
      url: '/auth/sessions',
      headers: { cookie: String(other.headers['set-cookie']).split(';')[0] },
    });
    expect(me.json<{ sessions: Array<{ ip: string }> }>().sessions[0].ip).toBe('203.0.113.80');
  });
});
