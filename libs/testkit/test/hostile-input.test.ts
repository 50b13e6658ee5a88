import { Type, type Static } from '@sinclair/typebox';
// service-kit's own tests depend on testkit; hiding this import from Nx keeps the task graph
// acyclic (tsc and Jest still resolve it, to service-kit's sources).
// nx-ignore-next-line
import {
  createService,
  DomainError,
  ErrorBody,
  Text,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import {
  HostileInputError,
  hostileInputSuite,
  type HostileInputOptions,
} from '@redis-patterns/testkit';

const Failure = Type.Ref(ErrorBody);
const failures = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, Failure]));
/** What Fastify itself answers for a bad URL, a long parameter, a big or foreign body. */
const FRAMEWORK = [400, 413, 414, 415];

const ItemId = Type.Object({ id: Text({ minLength: 1, maxLength: 40 }) });
const Item = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    stock: Type.Integer({ minimum: 0 }),
    tags: Type.Array(Type.String()),
    kind: Type.Union([Type.Literal('tool'), Type.Literal('part')]),
    note: Type.Union([Type.String(), Type.Null()]),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
type Item = Static<typeof Item>;
const ItemChange = Type.Object(
  {
    name: Text({ minLength: 1, maxLength: 40 }),
    stock: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    tags: Type.Array(Text({ minLength: 1, maxLength: 20 }), { maxItems: 5 }),
    kind: Type.Optional(Type.Union([Type.Literal('tool'), Type.Literal('part')])),
    note: Type.Optional(Type.Union([Text({ multiline: true, maxLength: 200 }), Type.Null()])),
  },
  { additionalProperties: false },
);

/** A small catalog done right: every status declared, refusals leave the store untouched. */
async function catalogApp(): Promise<{ app: ServiceInstance; store: Map<string, Item> }> {
  const app = await createService({
    name: 'hostile-demo',
    description: 'A catalog for the hostile-input suite',
    logLevel: 'silent',
  });
  const store = new Map<string, Item>(
    ['sku-1', 'sku-2'].map((id) => [
      id,
      {
        id,
        name: id,
        stock: 5,
        tags: [],
        kind: 'part',
        note: null,
        updatedAt: new Date(0).toISOString(),
      },
    ]),
  );
  const found = (id: string) => {
    const item = store.get(id);
    if (!item) throw new DomainError(404, 'ITEM_NOT_FOUND', `no item ${id}`);
    return item;
  };
  app.get(
    '/items/:id',
    { schema: { params: ItemId, response: { 200: Item, ...failures(404, ...FRAMEWORK) } } },
    async (request) => found(request.params.id),
  );
  app.get(
    '/items',
    {
      schema: {
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer()),
          kind: Type.Optional(Type.Union([Type.Literal('tool'), Type.Literal('part')])),
          inStock: Type.Optional(Type.Boolean()),
          tag: Type.Optional(Type.Array(Text({ maxLength: 20 }), { maxItems: 3 })),
        }),
        response: { 200: Type.Array(Item), ...failures(...FRAMEWORK) },
      },
    },
    async (request) => {
      const { limit = 10, kind, inStock, tag = [] } = request.query;
      if (!Number.isSafeInteger(limit) || limit < 1) {
        throw new DomainError(400, 'BAD_LIMIT', 'limit must be a positive integer');
      }
      return [...store.values()]
        .filter((item) => kind === undefined || item.kind === kind)
        .filter((item) => inStock === undefined || item.stock > 0 === inStock)
        .filter((item) => tag.every((one) => item.tags.includes(one)))
        .slice(0, limit);
    },
  );
  app.put(
    '/items/:id',
    {
      schema: {
        params: ItemId,
        body: ItemChange,
        response: { 200: Item, ...failures(404, ...FRAMEWORK) },
      },
    },
    async (request) => {
      const item = { ...found(request.params.id), ...request.body };
      item.updatedAt = new Date().toISOString();
      store.set(item.id, item);
      return item;
    },
  );
  app.post(
    '/items/:id/reserve',
    {
      schema: {
        params: ItemId,
        body: Type.Object(
          { quantity: Type.Integer({ minimum: 1, maximum: 100 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ id: Type.String(), stock: Type.Integer({ minimum: 0 }) }),
          ...failures(404, 409, ...FRAMEWORK),
        },
      },
    },
    async (request) => {
      const item = found(request.params.id);
      if (item.stock < request.body.quantity) {
        throw new DomainError(409, 'INSUFFICIENT_STOCK', `only ${item.stock} left`);
      }
      store.set(item.id, { ...item, stock: item.stock - request.body.quantity });
      return { id: item.id, stock: item.stock - request.body.quantity };
    },
  );
  app.get(
    '/me',
    { schema: { response: { 200: Type.Object({ user: Type.String() }), 401: Failure } } },
    async (request) => {
      if (request.headers.cookie !== 'session=s3cret') {
        throw new DomainError(401, 'UNAUTHENTICATED', 'log in first');
      }
      return { user: 'ada' };
    },
  );
  return { app, store };
}

const hung: (() => void)[] = [];

/** One route per kind of bug the suite must catch. */
async function buggyApp(): Promise<{ app: ServiceInstance; counter: { value: number } }> {
  const app = await createService({
    name: 'hostile-bugs',
    description: 'Routes with one bug each',
    logLevel: 'silent',
  });
  const counter = { value: 0 };
  app.get(
    '/bugs/undeclared/:id',
    {
      schema: {
        params: ItemId,
        response: { 200: Type.Object({ id: Type.String() }), ...failures(...FRAMEWORK) },
      },
    },
    async (request) => {
      if (request.params.id.length > 5)
        throw new DomainError(422, 'TOO_LONG', 'an id longer than 5');
      return { id: request.params.id };
    },
  );
  app.get(
    '/bugs/shape/:id',
    {
      schema: {
        params: ItemId,
        response: {
          200: Type.Object({ length: Type.Integer({ maximum: 10 }) }),
          ...failures(...FRAMEWORK),
        },
      },
    },
    async (request) => ({ length: request.params.id.length }),
  );
  app.post(
    '/bugs/crash',
    {
      schema: {
        body: Type.Object({ name: Type.String({ maxLength: 200 }) }),
        response: { 200: Type.Object({ name: Type.String() }), ...failures(...FRAMEWORK) },
      },
    },
    async (request) => {
      // What PostgreSQL does with a NUL byte in text.
      if (request.body.name.includes('\u0000'))
        throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
      return request.body;
    },
  );
  app.post(
    '/bugs/lenient',
    {
      attachValidation: true,
      schema: {
        body: Type.Object({ quantity: Type.Integer({ minimum: 1 }) }),
        response: { 200: Type.Object({ ok: Type.Boolean() }), ...failures(...FRAMEWORK) },
      },
    },
    async () => ({ ok: true }),
  );
  app.get(
    '/bugs/hang',
    {
      schema: {
        querystring: Type.Object({
          mode: Type.Optional(Type.Union([Type.Literal('quick'), Type.Literal('stuck')])),
        }),
        response: { 200: Type.Object({ ok: Type.Boolean() }), ...failures(...FRAMEWORK) },
      },
    },
    async (request) => {
      if (request.query.mode === 'stuck') await new Promise<void>((resolve) => hung.push(resolve));
      return { ok: true };
    },
  );
  app.post(
    '/bugs/leaky',
    {
      schema: {
        body: Type.Object({ quantity: Type.Integer({ minimum: 1, maximum: 10 }) }),
        response: { 200: Type.Object({ total: Type.Integer() }), ...failures(409, ...FRAMEWORK) },
      },
    },
    async (request) => {
      counter.value += request.body.quantity;
      if (request.body.quantity > 5)
        throw new DomainError(409, 'TOO_MANY', 'counted before refusing');
      return { total: counter.value };
    },
  );
  app.get(
    '/bugs/infinity', // bounded integers in a query: safe since service-kit refuses ±Infinity
    {
      schema: {
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
        }),
        response: { 200: Type.Object({ ok: Type.Boolean() }), ...failures(...FRAMEWORK) },
      },
    },
    async () => ({ ok: true }),
  );
  app.get(
    '/bugs/unavailable',
    { schema: { response: { 200: Type.Object({ ok: Type.Boolean() }), 503: Failure } } },
    async (_request, reply) =>
      reply.code(503).send({
        statusCode: 503,
        code: 'REDIS_UNAVAILABLE',
        error: 'Service Unavailable',
        message: 'x',
      }),
  );
  return { app, counter };
}

async function failureOf(options: HostileInputOptions): Promise<HostileInputError> {
  const error = await hostileInputSuite(options).then(
    () => undefined,
    (raised: unknown) => raised,
  );
  if (!(error instanceof HostileInputError))
    throw new Error(`expected a HostileInputError, got ${String(error)}`);
  return error;
}

describe('hostileInputSuite on a service that holds', () => {
  let app: ServiceInstance;
  let store: Map<string, Item>;
  beforeAll(async () => {
    ({ app, store } = await catalogApp());
    await app.ready();
  });
  afterAll(() => app.close());

  it('finds nothing, reaches every declared outcome, and runs the fixed examples', async () => {
    const report = await hostileInputSuite({
      app,
      exclude: ['/metrics'],
      knownValues: { id: ['sku-1', 'sku-2'] },
      headers: (route): Record<string, string> =>
        route.path === '/me' ? { cookie: 'session=s3cret' } : {},
      snapshot: async () => structuredClone([...store]),
      examples: [
        {
          method: 'PUT',
          url: '/items/sku-1',
          payload: { name: 'x', stock: null, tags: [] },
          status: 400,
        },
        {
          method: 'PUT',
          url: '/items/sku-1',
          payload: { name: 'x\u0000', stock: 1, tags: [] },
          status: 400,
        },
        {
          method: 'POST',
          url: '/items/sku-1/reserve',
          payload: { quantity: true },
          status: 400,
          code: 'VALIDATION_ERROR',
          message: /quantity/,
        },
        { method: 'POST', url: '/items/sku-2/reserve', payload: { quantity: 100 }, status: 409 },
        { method: 'GET', url: '/items/nope', status: 404 },
        { method: 'GET', url: '/me', anonymous: true, status: 401 },
      ],
    });
    expect(report.examples).toBe(6);
    const byRoute = Object.fromEntries(report.routes.map((route) => [route.route, route]));
    expect(Object.keys(byRoute).sort()).toEqual([
      'GET /health/live',
      'GET /health/ready',
      'GET /items',
      'GET /items/{id}',
      'GET /me',
      'POST /items/{id}/reserve',
      'PUT /items/{id}',
    ]);
    for (const route of report.routes) expect(route.requests).toBeGreaterThanOrEqual(200);
    const put = byRoute['PUT /items/{id}'];
    for (const status of ['200', '400', '404', '413', '414', '415'])
      expect(put.statuses[status]).toBeGreaterThan(0);
    expect(put.schemaInvalid).toBeGreaterThan(50);
    expect(byRoute['GET /items'].statuses['200']).toBeGreaterThan(50);
    expect(byRoute['GET /me'].statuses).toEqual({ 200: byRoute['GET /me'].requests });
  });
});

describe('hostileInputSuite catches each kind of bug', () => {
  let app: ServiceInstance;
  let counter: { value: number };
  beforeAll(async () => {
    ({ app, counter } = await buggyApp());
    await app.ready();
  });
  afterAll(async () => {
    for (const release of hung) release();
    await app.close();
  });

  it('a status the route does not declare, with the request and a replay that reproduces it', async () => {
    const error = await failureOf({ app, include: ['/bugs/undeclared/{id}'] });
    const [failure] = error.failures;
    expect(failure.route).toBe('GET /bugs/undeclared/{id}');
    expect(failure.problem).toMatch(/^status 422 is not declared/);
    expect(failure.request.url).toMatch(/^\/bugs\/undeclared\//);
    expect(error.message).toContain(
      `replay: { route: 'GET /bugs/undeclared/{id}', seed: ${failure.replay?.seed}`,
    );

    const replayed = await failureOf({ app, replay: failure.replay });
    expect(replayed.failures[0].request).toEqual(failure.request);
  });

  it('a body that does not match the schema of its status', async () => {
    const error = await failureOf({ app, include: ['GET /bugs/shape/{id}'] });
    expect(error.failures[0].problem).toMatch(
      /body does not match the 200 schema: \/length must be <= 10/,
    );
  });

  it('a 500 on some input', async () => {
    const error = await failureOf({ app, include: ['/bugs/crash'] });
    expect(error.failures[0].problem).toBe('server error 500');
    expect(error.failures[0].label).toMatch(/U\+0000/);
  });

  it('a request that breaks the schema and is accepted anyway', async () => {
    const error = await failureOf({ app, include: ['/bugs/lenient'] });
    expect(error.failures[0].problem).toMatch(
      /^status 200 for a request that breaks the route's schema: body/,
    );
  });

  it('a request that never gets an answer', async () => {
    const error = await failureOf({ app, include: ['/bugs/hang'], timeoutMs: 200 });
    expect(error.failures[0].problem).toBe('no answer within 200 ms');
    expect(error.failures[0].response).toBeUndefined();
  });

  it('a rejected request that changed the state', async () => {
    const error = await failureOf({
      app,
      include: ['/bugs/leaky'],
      snapshot: async () => counter.value,
    });
    expect(error.failures[0].problem).toMatch(
      /^rejected with 409 but changed the state: before \d+, after \d+/,
    );
  });

  // Coercion turns `1e400` or `Infinity` into ±Infinity, which skips `minimum`/`maximum`:
  // service-kit refuses non-finite numbers, so the generated ±Infinity cases get their 400.
  it('a coerced ±Infinity cannot pass integer bounds in the query', async () => {
    await expect(hostileInputSuite({ app, include: ['/bugs/infinity'] })).resolves.toBeDefined();
    const response = await app.inject({ method: 'GET', url: '/bugs/infinity?limit=1e400' });
    expect(response.statusCode).toBe(400);
  });

  it('a 503 unless the caller says a dependency may be down', async () => {
    const error = await failureOf({ app, include: ['/bugs/unavailable'], runs: 5 });
    expect(error.failures[0].problem).toBe('server error 503');
    await expect(
      hostileInputSuite({
        app,
        include: ['/bugs/unavailable'],
        runs: 5,
        dependencyMayBeDown: true,
      }),
    ).resolves.toMatchObject({
      routes: [{ route: 'GET /bugs/unavailable', statuses: { 503: 7 } }],
    });
  });

  it('a fixed example that gets another status', async () => {
    const error = await failureOf({
      app,
      include: [],
      examples: [
        {
          name: 'NUL in a name',
          method: 'POST',
          url: '/bugs/crash',
          payload: { name: 'a\u0000' },
          status: 400,
        },
      ],
    });
    expect(error.failures).toHaveLength(1);
    expect(error.failures[0]).toMatchObject({
      route: 'POST /bugs/crash',
      problem: 'status 500, expected 400',
    });
  });

  it('a fixed example whose error does not name the field it must', async () => {
    const error = await failureOf({
      app,
      include: [],
      examples: [
        {
          name: 'a wrong type for the name',
          method: 'POST',
          url: '/bugs/crash',
          payload: { name: 7 },
          status: 400,
          message: /stock/,
        },
      ],
    });
    expect(error.failures).toHaveLength(1);
    expect(error.failures[0].problem).toMatch(/^message ".*name.*" does not match \/stock\/$/);
  });
});
