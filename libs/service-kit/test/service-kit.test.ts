import { once } from 'node:events';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Type } from '@sinclair/typebox';
import { Pool } from 'pg';
import { createRedis } from '@redis-patterns/redis-core';
import {
  buildService,
  createService,
  DomainError,
  ErrorBody,
  postgresPlugin,
  registerRedis,
  runMigrations,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import {
  startPostgres,
  startRedis,
  type PostgresServer,
  type RedisServer,
} from '@redis-patterns/testkit';

async function baseApp(): Promise<ServiceInstance> {
  const app = await createService({ name: 'kit-test', description: 'test', logLevel: 'silent' });
  app.post(
    '/things/:id',
    {
      schema: {
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        body: Type.Object({ quantity: Type.Integer({ minimum: 1 }) }),
        response: { 200: Type.Object({ ok: Type.Boolean() }), 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      if (request.body.quantity > 5) {
        throw new DomainError(409, 'INSUFFICIENT_STOCK', 'only 5 left', { 'x-left': '5' });
      }
      return { ok: true };
    },
  );
  app.get('/boom', async () => {
    throw new Error('secret database password in message');
  });
  app.get('/slow', async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { done: true };
  });
  return app;
}

/** Clients connected to the Redis at `url`, not counting the one asking. */
async function connectedClients(url: string): Promise<number> {
  const probe = createRedis({ url });
  try {
    await once(probe, 'ready');
    const list = (await probe.call('CLIENT', 'LIST')) as string;
    return list.trim().split('\n').length - 1;
  } finally {
    probe.disconnect();
  }
}

describe('service-kit skeleton', () => {
  let app: ServiceInstance;
  beforeAll(async () => {
    app = await baseApp();
  });
  afterAll(() => app.close());

  it('answers validation errors with the envelope naming the field', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/things/1',
      payload: { quantity: 0 },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      statusCode: 400,
      code: 'VALIDATION_ERROR',
      error: 'Bad Request',
      message: 'body/quantity must be >= 1',
    });
    const badParam = await app.inject({
      method: 'POST',
      url: '/things/abc',
      payload: { quantity: 1 },
    });
    expect(badParam.json().message).toMatch(/params\/id/);
  });

  it('passes domain errors with their code and headers', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/things/1',
      payload: { quantity: 9 },
    });
    expect(response.statusCode).toBe(409);
    expect(response.headers['x-left']).toBe('5');
    expect(response.json()).toMatchObject({ code: 'INSUFFICIENT_STOCK', message: 'only 5 left' });
  });

  it('hides the details of unexpected 5xx errors', async () => {
    const response = await app.inject({ method: 'GET', url: '/boom' });
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('secret');
    expect(response.json()).toEqual({
      statusCode: 500,
      code: 'INTERNAL_ERROR',
      error: 'Internal Server Error',
      message: 'Internal Server Error',
    });
  });

  it('rejects an oversized body with 413 in the envelope', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/things/1',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ quantity: 1, pad: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('passes a sane x-request-id through and replaces an insane one', async () => {
    const kept = await app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'abc-123' },
    });
    expect(kept.headers['x-request-id']).toBe('abc-123');
    const replaced = await app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'a b<script>' },
    });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves Prometheus metrics with the HTTP histogram by route and status', async () => {
    await app.inject({ method: 'POST', url: '/things/1', payload: { quantity: 1 } });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(
      /http_request_duration_seconds_count\{method="POST",route="\/things\/:id",status_code="200"\} 1/,
    );
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
  });

  it('serves OpenAPI with the route schemas', async () => {
    const docs = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(docs.statusCode).toBe(200);
    expect(docs.json().paths['/things/{id}']).toBeDefined();
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('answers an unknown route with a 404 envelope', async () => {
    const response = await app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(response.json()).toEqual({
      statusCode: 404,
      code: 'NOT_FOUND',
      error: 'Not Found',
      message: 'Route GET /nope not found',
    });
  });
});

describe('readiness and shutdown with a real Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ faults: true });
  });
  afterAll(() => redis.stop());

  it('required: 503 within 1 s while Redis is paused, 200 again after', async () => {
    const app = await baseApp();
    await registerRedis(app, { config: { url: redis.url }, readiness: 'required' });
    try {
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      await redis.pause();
      const started = Date.now();
      const paused = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(Date.now() - started).toBeLessThan(1000);
      await redis.resume();
      expect(paused.statusCode).toBe(503);
      expect(paused.json()).toEqual({ status: 'unavailable', checks: { redis: 'down' } });
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    } finally {
      await redis.resume();
      await app.close();
    }
  });

  it('startup: a fail-open service stays ready while Redis is paused', async () => {
    const app = await baseApp();
    await registerRedis(app, { config: { url: redis.url }, readiness: 'startup' });
    try {
      await redis.pause();
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    } finally {
      await redis.resume();
      await app.close();
    }
  });

  it('boot fails with a message naming Redis when it is unreachable', async () => {
    const app = await baseApp();
    await expect(
      registerRedis(app, {
        config: { url: 'redis://127.0.0.1:1' },
        readiness: 'required',
        bootTimeoutMs: 300,
      }),
    ).rejects.toThrow(/Cannot reach Redis \(redis:\/\/127.0.0.1:1\/?\)/);
    await app.close();
  });

  it('a build that fails after its Redis connected closes that connection before it throws', async () => {
    let built: ServiceInstance | undefined;
    const clientsBefore = await connectedClients(redis.url);
    await expect(
      buildService({ name: 'kit-test', description: 'test', logLevel: 'silent' }, async (app) => {
        built = app;
        await registerRedis(app, { config: { url: redis.url }, readiness: 'required' });
        expect(await connectedClients(redis.url)).toBeGreaterThan(clientsBefore);
        throw new Error('a plugin failed');
      }),
    ).rejects.toThrow('a plugin failed');
    expect(built?.redis.status).toBe('end');
    expect(await connectedClients(redis.url)).toBe(clientsBefore);
  });

  it('on shutdown readiness goes 503 and an in-flight request still completes', async () => {
    const app = await baseApp();
    await registerRedis(app, { config: { url: redis.url }, readiness: 'required' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const inFlight = fetch(`${url}/slow`).then((r) => r.json());
    await new Promise((resolve) => setTimeout(resolve, 100));
    app.health.shuttingDown = true;
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'shutting-down' });
    await app.close();
    await expect(inFlight).resolves.toEqual({ done: true });
  });
});

describe('PostgreSQL pool and migrations', () => {
  let postgres: PostgresServer;
  let dir: string;
  beforeAll(async () => {
    postgres = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(
      join(dir, '001-things.sql'),
      'CREATE TABLE things (id serial PRIMARY KEY, n int NOT NULL);',
    );
    writeFileSync(join(dir, '002-seed.sql'), 'INSERT INTO things (n) VALUES (1);');
  }, 60000);
  afterAll(() => postgres.stop());

  it('applies each migration exactly once when 5 replicas boot at the same time', async () => {
    const url = await postgres.createDatabase();
    const pools = Array.from({ length: 5 }, () => new Pool({ connectionString: url }));
    try {
      const applied = await Promise.all(pools.map((pool) => runMigrations(pool, dir)));
      expect(applied.flat().sort()).toEqual(['001-things.sql', '002-seed.sql']);
      const { rows } = await pools[0].query('SELECT count(*)::int AS n FROM things');
      expect(rows[0].n).toBe(1);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('the plugin is ready with PostgreSQL; while it is paused readiness and queries answer 503', async () => {
    const url = await postgres.createDatabase();
    const app = await baseApp();
    await app.register(postgresPlugin, {
      url,
      migrationsDir: dir,
      statementTimeoutMs: 300,
      connectTimeoutMs: 300,
    });
    app.get('/count', async () => {
      const { rows } = await app.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM things');
      return { n: rows[0].n };
    });
    await app.ready();
    try {
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/count' })).json()).toEqual({ n: 1 });
      if (postgres.source === 'embedded') {
        await postgres.pause();
        try {
          const started = Date.now();
          const paused = await app.inject({ method: 'GET', url: '/health/ready' });
          expect(paused.statusCode).toBe(503);
          expect(Date.now() - started).toBeLessThan(1500);
          // A route that needs the database answers 503 within the statement timeout + 500 ms.
          const queried = Date.now();
          const count = await app.inject({ method: 'GET', url: '/count' });
          expect(Date.now() - queried).toBeLessThan(2500);
          expect(count.statusCode).toBe(503);
          expect(count.headers['retry-after']).toBe('1');
          expect(count.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
        } finally {
          await postgres.resume();
        }
      }
    } finally {
      await app.close();
    }
  });

  it('boot fails with a message naming PostgreSQL when it is unreachable', async () => {
    const app = await baseApp();
    app.register(postgresPlugin, {
      url: 'postgres://postgres@127.0.0.1:1/x',
      connectTimeoutMs: 300,
    });
    await expect(app.ready()).rejects.toThrow(/Cannot use PostgreSQL at 127.0.0.1:1\/x/);
  });
});
