import type { ServiceInstance } from '@redis-patterns/service-kit';
import type { Replicas } from '@redis-patterns/testkit';
import { productInput, request, startCluster, startServers, type Servers } from './harness';

let servers: Servers;
let replicas: Replicas<ServiceInstance>;
beforeAll(async () => {
  servers = await startServers();
  replicas = await startCluster(2, servers);
});
afterAll(async () => {
  await replicas?.close();
  await servers?.stop();
});

async function catalogue(): Promise<string> {
  const { rows } = await servers.pool.query<{ digest: string }>(
    "SELECT count(*) || ':' || coalesce(sum(version), 0) || ':' || coalesce(max(updated_at)::text, '') AS digest FROM products",
  );
  return rows[0].digest;
}

describe('bad input', () => {
  it.each(['0', '-1', 'abc', '1e3', '1.5', '01', '9999999999999999'])(
    'GET /products/%s is 400 naming the id',
    async (id) => {
      const answer = await request(`${replicas.url(0)}/products/${id}`);
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
    const url = `${replicas.url(1)}/products?${query.startsWith('category') ? '' : 'category=books&'}${query}`;
    const answer = await request(url);
    expect(answer.status).toBe(400);
    expect((answer.body as { message: string }).message).toMatch(field);
  });

  it('GET /products without a category is 400', async () => {
    expect((await request(`${replicas.url(0)}/products`)).status).toBe(400);
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
    const answer = await request(`${replicas.url(0)}/products`, {
      method: 'POST',
      body: productInput('VALID-1', override),
    });
    expect(answer.status).toBe(400);
    expect((answer.body as { message: string }).message).toMatch(field);
    expect(await catalogue()).toBe(before);
  });

  it('POST with a missing field or a body that is not JSON is 400, nothing written', async () => {
    const before = await catalogue();
    const { priceCents: _priceCents, ...missing } = productInput('VALID-2');
    const noPrice = await request(`${replicas.url(0)}/products`, { method: 'POST', body: missing });
    expect(noPrice.status).toBe(400);
    expect((noPrice.body as { message: string }).message).toMatch(/priceCents/);
    const broken = await request(`${replicas.url(1)}/products`, {
      method: 'POST',
      body: '{"sku": ',
    });
    expect(broken.status).toBe(400);
    expect(await catalogue()).toBe(before);
  });

  it('a 2 MB body is 413, nothing written', async () => {
    const before = await catalogue();
    const answer = await request(`${replicas.url(0)}/products`, {
      method: 'POST',
      body: productInput('BIG-1', { description: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ statusCode: 413 });
    const put = await request(`${replicas.url(1)}/products/3`, {
      method: 'PUT',
      body: productInput('BIG-2', { description: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(put.status).toBe(413);
    expect(await catalogue()).toBe(before);
  });

  it('PUT or DELETE of an unknown id is 404; a duplicate sku is 409; nothing written', async () => {
    const before = await catalogue();
    const put = await request(`${replicas.url(0)}/products/424242`, {
      method: 'PUT',
      body: productInput('GHOST-1'),
    });
    expect(put.status).toBe(404);
    expect(put.body).toMatchObject({ code: 'PRODUCT_NOT_FOUND' });
    expect((await request(`${replicas.url(1)}/products/424242`, { method: 'DELETE' })).status).toBe(
      404,
    );
    const duplicate = await request(`${replicas.url(0)}/products`, {
      method: 'POST',
      body: productInput('SKU-000001'),
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body).toMatchObject({ statusCode: 409, code: 'SKU_TAKEN' });
    const clash = await request(`${replicas.url(1)}/products/2`, {
      method: 'PUT',
      body: productInput('SKU-000001'),
    });
    expect(clash.status).toBe(409);
    expect(await catalogue()).toBe(before);
    const intact = await request(`${replicas.url(0)}/products/2`);
    expect(intact.body).toMatchObject({ sku: 'SKU-000002' });
  });
});
