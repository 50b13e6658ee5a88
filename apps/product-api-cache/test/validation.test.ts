import { cacheCall, productInput, standalonePerFile } from './cache-harness';

// Input validation happens before Redis is touched: one topology is enough.
const stack = standalonePerFile(2);
const servers = () => stack().servers;
const replicas = () => stack().replicas;

async function catalogue(): Promise<string> {
  const { rows } = await servers().pool.query<{ digest: string }>(
    "SELECT count(*) || ':' || coalesce(sum(version), 0) || ':' || coalesce(max(updated_at)::text, '') AS digest FROM products",
  );
  return rows[0].digest;
}

describe('bad input', () => {
  it.each(['0', '-1', 'abc', '1e3', '1.5', '01', '9999999999999999'])(
    'GET /products/%s is 400 naming the id',
    async (id) => {
      const answer = await cacheCall(`${replicas().url(0)}/products/${id}`);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_ERROR' });
      expect((answer.body as { message: string }).message).toMatch(/id/);
    },
  );

  it.each([
    ['limit=0', /limit/],
    ['limit=101', /limit/],
    ['limit=ten', /limit/],
    ['cursor=-5', /cursor/],
    ['category=Has%20Space', /category/],
  ])('GET /products?%s is 400 naming the field', async (query, field) => {
    const url = `${replicas().url(1)}/products?${query.startsWith('category') ? '' : 'category=books&'}${query}`;
    const answer = await cacheCall(url);
    expect(answer.status).toBe(400);
    expect((answer.body as { message: string }).message).toMatch(field);
  });

  it('GET /products without a category is 400', async () => {
    expect((await cacheCall(`${replicas().url(0)}/products`)).status).toBe(400);
  });

  it.each([
    ['priceCents', { priceCents: 'cheap' }],
    ['priceCents', { priceCents: -1 }],
    ['priceCents', { priceCents: 1.5 }],
    ['name', { name: { first: 'x' } }],
    ['name', { name: '' }],
    ['category', { category: 'Not A Key' }],
    ['sku', { sku: 'has space' }],
    ['additional properties', { extra: true }],
  ])('POST with a bad %s is 400 naming it, nothing written', async (field, override) => {
    const before = await catalogue();
    const answer = await cacheCall(`${replicas().url(0)}/products`, {
      method: 'POST',
      body: productInput('VALID-1', override),
    });
    expect(answer.status).toBe(400);
    expect((answer.body as { message: string }).message).toMatch(field);
    expect(await catalogue()).toBe(before);
  });

  // Issue 14: JSON bodies are never coerced, and free text refuses NUL and control characters
  // (a NUL used to reach PostgreSQL and come back as a 500).
  it.each([
    ['priceCents', { priceCents: '   ' }],
    ['priceCents', { priceCents: null }],
    ['priceCents', { priceCents: '899' }],
    ['priceCents', { priceCents: true }],
    ['name', { name: true }],
    ['name', { name: null }],
    ['name', { name: 42 }],
    ['name', { name: 'Mug\u0000' }],
    ['name', { name: 'Mug\u001b[31m' }],
    ['name', { name: 'two\nlines' }],
    ['description', { description: 'nul \u0000 inside' }],
    ['description', { description: 'bell \u0007' }],
    ['description', { description: null }],
    ['category', { category: 'books\u0000' }],
    ['sku', { sku: 12 }],
  ])(
    'PUT or POST with a wrong %s (%j) is 400 naming it, nothing written',
    async (field, override) => {
      const before = await catalogue();
      const put = await cacheCall(`${replicas().url(0)}/products/7`, {
        method: 'PUT',
        body: productInput('SKU-000007', override),
      });
      expect(put.status).toBe(400);
      expect(put.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_ERROR' });
      expect((put.body as { message: string }).message).toMatch(field);
      const post = await cacheCall(`${replicas().url(1)}/products`, {
        method: 'POST',
        body: productInput('VALID-3', override),
      });
      expect(post.status).toBe(400);
      expect((post.body as { message: string }).message).toMatch(field);
      expect(await catalogue()).toBe(before);
    },
  );

  it.each(['null', '"a product"', '[]', '42'])(
    'a JSON body that is not an object (%s) is 400, nothing written',
    async (body) => {
      const before = await catalogue();
      const answer = await cacheCall(`${replicas().url(0)}/products/7`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ statusCode: 400 });
      expect(await catalogue()).toBe(before);
    },
  );

  it('a description keeps its tabs and newlines', async () => {
    const description = 'line one\n\tindented\r\nline three';
    const answer = await cacheCall(`${replicas().url(0)}/products/8`, {
      method: 'PUT',
      body: productInput('SKU-000008', { description }),
    });
    expect(answer.status).toBe(200);
    const read = await cacheCall(`${replicas().url(1)}/products/8`);
    expect(read.body).toMatchObject({ description });
  });

  it('POST with a missing field or a body that is not JSON is 400, nothing written', async () => {
    const before = await catalogue();
    const { priceCents: _priceCents, ...missing } = productInput('VALID-2');
    const noPrice = await cacheCall(`${replicas().url(0)}/products`, {
      method: 'POST',
      body: missing,
    });
    expect(noPrice.status).toBe(400);
    expect((noPrice.body as { message: string }).message).toMatch(/priceCents/);
    const broken = await cacheCall(`${replicas().url(1)}/products`, {
      method: 'POST',
      body: '{"sku": ',
    });
    expect(broken.status).toBe(400);
    expect(await catalogue()).toBe(before);
  });

  it('a 2 MB body is 413, nothing written', async () => {
    const before = await catalogue();
    const answer = await cacheCall(`${replicas().url(0)}/products`, {
      method: 'POST',
      body: productInput('BIG-1', { description: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ statusCode: 413 });
    const put = await cacheCall(`${replicas().url(1)}/products/3`, {
      method: 'PUT',
      body: productInput('BIG-2', { description: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(put.status).toBe(413);
    expect(await catalogue()).toBe(before);
  });

  it('PUT or DELETE of an unknown id is 404; a duplicate sku is 409; nothing written', async () => {
    const before = await catalogue();
    const put = await cacheCall(`${replicas().url(0)}/products/424242`, {
      method: 'PUT',
      body: productInput('GHOST-1'),
    });
    expect(put.status).toBe(404);
    expect(put.body).toMatchObject({ code: 'PRODUCT_NOT_FOUND' });
    expect(
      (await cacheCall(`${replicas().url(1)}/products/424242`, { method: 'DELETE' })).status,
    ).toBe(404);
    const duplicate = await cacheCall(`${replicas().url(0)}/products`, {
      method: 'POST',
      body: productInput('SKU-000001'),
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body).toMatchObject({ statusCode: 409, code: 'SKU_TAKEN' });
    const clash = await cacheCall(`${replicas().url(1)}/products/2`, {
      method: 'PUT',
      body: productInput('SKU-000001'),
    });
    expect(clash.status).toBe(409);
    expect(await catalogue()).toBe(before);
    const intact = await cacheCall(`${replicas().url(0)}/products/2`);
    expect(intact.body).toMatchObject({ sku: 'SKU-000002' });
  });
});
