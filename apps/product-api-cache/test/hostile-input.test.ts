import { type HostileExample, hostileInputTests } from '@redis-patterns/testkit';
import { SEED_CATEGORIES } from '../src/catalog/seed-data';
import { productInput, standalonePerFile } from './cache-harness';

// Generated from the service's own OpenAPI document. Input is refused before Redis is touched,
// and the writes that pass behave the same on every topology: standalone is enough.
const stack = standalonePerFile(1);
const servers = () => stack().servers;
const app = () => stack().replicas.apps[0];

/**
 * Every product as PostgreSQL holds it, every column, as a count and a digest computed by
 * PostgreSQL (one row back instead of the table): what a rejected request must leave unchanged.
 */
async function products(): Promise<unknown> {
  const { rows } = await servers().pool.query(
    `SELECT count(*) AS products,
            md5(coalesce(string_agg(p::text, E'\\n' ORDER BY p.id), '')) AS digest
       FROM products p`,
  );
  return rows[0];
}

const put = (id: number, override: Record<string, unknown>, name: string): HostileExample => ({
  name,
  method: 'PUT',
  url: `/products/${id}`,
  payload: productInput(`SKU-${String(id).padStart(6, '0')}`, override),
  status: 400,
});

/** Issue 14's cases, and the failures the generated runs found (see README, Security). */
const examples: HostileExample[] = [
  put(5, { priceCents: '   ' }, 'a blank string for an integer is not 0'),
  put(5, { priceCents: null }, 'null for an integer is not 0'),
  put(5, { priceCents: true }, 'true for an integer is not 1'),
  put(5, { name: true }, 'true for a name is not "true"'),
  put(5, { name: 'Mug\u0000' }, 'a NUL byte in a name is a 400, not a 500 from PostgreSQL'),
  put(5, { description: 'x\u0000y' }, 'a NUL byte in a description'),
  put(5, { name: 'bell\u0007' }, 'a control character in a name'),
  {
    name: 'a NUL byte in a new product name',
    method: 'POST',
    url: '/products',
    payload: productInput('NUL-1', { name: 'a\u0000' }),
    status: 400,
  },
  {
    name: 'a body that is JSON null',
    method: 'PUT',
    url: '/products/5',
    headers: { 'content-type': 'application/json' },
    payload: 'null',
    status: 400,
  },
  { method: 'GET', url: '/products?category=books&limit=1e400', status: 400 },
  { method: 'GET', url: '/products/1e3', status: 400 },
  { method: 'GET', url: '/products/%00', status: 400 },
  // Found by the generated runs before names and descriptions were `Text` (500s from PostgreSQL):
  // POST seed 1434449168 path '13', PUT seed 459054947 path '27'; their exact requests.
  {
    name: 'regression: POST seed 1434449168 path 13 (U+0000 in a name)',
    method: 'POST',
    url: '/products',
    payload: {
      sku: 'SKU-000001',
      name: '5}w\u0000,n>szjla}',
      description: '',
      priceCents: 996,
      category: 'c-04',
    },
    status: 400,
  },
  {
    name: 'regression: PUT seed 459054947 path 27 (U+0000 in a name)',
    method: 'PUT',
    url: '/products/3',
    payload: {
      sku: '.5',
      name: '\u{9a8f4}\u{10fff0}\u3684\u0000',
      description: '\u{2de68}\u{f5e53}\u{e1a99}',
      priceCents: 2,
      category: 'games',
    },
    status: 400,
  },
  {
    name: 'a duplicate sku',
    method: 'POST',
    url: '/products',
    payload: productInput('SKU-000001'),
    status: 409,
  },
  {
    name: 'an unknown id',
    method: 'PUT',
    url: '/products/424242',
    payload: productInput('GHOST-1'),
    status: 404,
  },
];

describe('hostile input on every route of /docs/json', () => {
  hostileInputTests({
    suite: () => ({
      app: app(),
      exclude: ['/metrics'],
      knownValues: {
        id: ['1', '2', '3', '5', '150', '299'],
        category: [...SEED_CATEGORIES, 'testing'],
        sku: ['SKU-000001', 'SKU-000002'],
        cursor: ['0', '10', '150'],
      },
      snapshot: products,
      examples,
    }),
    coverage: {
      routes: [
        'DELETE /products/{id}',
        'GET /health/live',
        'GET /health/ready',
        'GET /products',
        'GET /products/{id}',
        'POST /products',
        'PUT /products/{id}',
      ],
      moreThan: {
        'GET /products': { 200: 10, 400: 50 },
        'GET /products/{id}': { 200: 10 },
        'POST /products': { '200|201': 10, 400: 50, 409: 0 },
        'PUT /products/{id}': { 200: 10, 400: 50 },
        'DELETE /products/{id}': { 204: 0 },
      },
    },
  });
});
