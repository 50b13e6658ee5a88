import { connect } from 'node:net';
import { Type } from '@sinclair/typebox';
import {
  createService,
  ErrorBody,
  loadConfig,
  Text,
  isCleanText,
  databaseEnv,
  redisEnv,
} from '@redis-patterns/service-kit';
import type { ServiceInstance } from '@redis-patterns/service-kit';

async function app(timeouts = {}): Promise<ServiceInstance> {
  const service = await createService({
    name: 'hostile',
    description: 'test',
    logLevel: 'silent',
    timeouts,
  });
  const written: unknown[] = [];
  service.decorate('written', written);
  service.put(
    '/items/:id',
    {
      schema: {
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        querystring: Type.Object({ dryRun: Type.Optional(Type.Boolean()) }),
        body: Type.Object({
          stock: Type.Integer({ minimum: 0 }),
          name: Type.Optional(Text({ maxLength: 50 })),
          note: Type.Optional(Text({ multiline: true, maxLength: 200 })),
        }),
        response: {
          200: Type.Object({ id: Type.Integer(), dryRun: Type.Boolean() }),
          400: ErrorBody,
        },
      },
    },
    async (request) => {
      written.push(request.body);
      return { id: request.params.id, dryRun: request.query.dryRun ?? false };
    },
  );
  return service;
}

describe('a hostile client against the shared skeleton', () => {
  let service: ServiceInstance;
  beforeAll(async () => {
    service = await app();
  });
  afterAll(() => service.close());

  const put = (body: unknown, url = '/items/7') =>
    service.inject({
      method: 'PUT',
      url,
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  it.each([
    [{ stock: null }, 'stock'],
    [{ stock: '5' }, 'stock'],
    [{ stock: '   ' }, 'stock'],
    [{ stock: true }, 'stock'],
    [{ stock: [3] }, 'stock'],
    [{ stock: 1, name: true }, 'name'],
    [{ stock: 1, name: 12 }, 'name'],
  ])(
    'refuses a body of the wrong JSON type %j with a 400 naming %s, and writes nothing',
    async (body, field) => {
      const before = (service as unknown as { written: unknown[] }).written.length;
      const response = await put(body);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'VALIDATION_ERROR' });
      expect(response.json().message).toContain(field);
      expect((service as unknown as { written: unknown[] }).written.length).toBe(before);
    },
  );

  it('still coerces params and querystring, which are text on the wire', async () => {
    const response = await put({ stock: 3 }, '/items/7?dryRun=true');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ id: 7, dryRun: true });
  });

  it.each(['a\u0000b', 'esc\u001b[31m', 'del\u007f', 'line\nbreak', 'c1\u0085'])(
    'refuses control characters in a single-line text field (%j)',
    async (name) => {
      const response = await put({ stock: 1, name });
      expect(response.statusCode).toBe(400);
      expect(response.json().message).toContain('name');
    },
  );

  it('accepts tab and newlines where text is multi-line, and never NUL', async () => {
    expect((await put({ stock: 1, note: 'two\nlines\tand a tab\r\n' })).statusCode).toBe(200);
    expect((await put({ stock: 1, note: 'nul\u0000' })).statusCode).toBe(400);
    expect(isCleanText('fine ünïcode ✓')).toBe(true);
    expect(isCleanText('bad\u0000')).toBe(false);
  });
});

describe('server timeouts', () => {
  it('answers 408 to a client that sends its body too slowly, then closes the socket', async () => {
    const service = await app({ requestMs: 1000, headersMs: 500, checkIntervalMs: 100 });
    await service.listen({ port: 0, host: '127.0.0.1' });
    const port = (service.server.address() as { port: number }).port;
    try {
      const started = Date.now();
      const { text, closedAfter } = await new Promise<{ text: string; closedAfter: number }>(
        (resolve) => {
          const socket = connect(port, '127.0.0.1');
          let text = '';
          socket.on('data', (chunk) => (text += chunk.toString()));
          socket.on('close', () => resolve({ text, closedAfter: Date.now() - started }));
          socket.write(
            'PUT /items/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"st',
          );
          // One byte every 200 ms: never idle, never done.
          const drip = setInterval(() => socket.writable && socket.write(' '), 200);
          socket.on('close', () => clearInterval(drip));
        },
      );
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(closedAfter).toBeLessThan(1000 + 500);
    } finally {
      await service.close();
    }
  });
});

describe('config errors never print secrets', () => {
  const schema = Type.Object({
    ...redisEnv('x'),
    ...databaseEnv(),
    SESSION_SECRET: Type.String({ minLength: 32 }),
  });

  it.each([
    ['DATABASE_URL', 'mysql://u:SECRETPASS@h/x'],
    ['REDIS_URL', 'http://u:SECRETPASS@h:6379'],
    ['SESSION_SECRET', 'SECRETPASS'],
    ['DATABASE_URL', 'u:SECRETPASS@h/x'],
    ['DATABASE_URL', 'postgres://u:SECRET/PASS@h/x y'],
  ])('%s: names the variable and the rule, not the password', (variable, value) => {
    const env = { SESSION_SECRET: 'x'.repeat(40), [variable]: value };
    expect(() => loadConfig(schema, env)).toThrow(variable);
    try {
      loadConfig(schema, env);
    } catch (error) {
      expect((error as Error).message).not.toMatch(/SECRET\/?PASS/);
    }
  });
});
