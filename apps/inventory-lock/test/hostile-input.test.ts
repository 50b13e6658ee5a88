import { Pool } from 'pg';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  hostileInputTests,
  perFileFixture,
  startPostgres,
  startRedis,
  uniquePrefix,
  type HostileExample,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { testConfig } from './inventory-harness';

// Generated from the service's own OpenAPI document. Input is refused before the lock or the
// database is touched, and the writes that pass behave the same on every topology of the
// service's Redis (the lock masters are standalone servers everywhere): standalone is enough.
let pool: Pool;
let app: ServiceInstance;
perFileFixture(async (cleanup) => {
  const postgres = await startPostgres();
  cleanup(() => postgres.stop());
  const redis = await startRedis();
  cleanup(() => redis.stop());
  const databaseUrl = await postgres.createDatabase();
  pool = new Pool({ connectionString: databaseUrl, max: 2 });
  cleanup(() => pool.end());
  // An idle snapshot connection ended by the server must not crash the file (seen once in CI:
  // 57P01); a snapshot query that fails still fails its test.
  pool.on('error', () => {});
  // Test hooks off: the suite sends valid `x-test-pause-ms` values, which must be ignored. The
  // clock stands still, so no hold expires between a request and its snapshot.
  const frozen = Date.now();
  app = await buildApp({
    ...testConfig({
      redisUrl: redis.url,
      databaseUrl,
      keyPrefix: uniquePrefix('inv'),
      clock: () => frozen,
    }),
    testHooks: false,
  });
  cleanup(() => app.close());
  await app.ready();
  for (const sku of ['sku-1', 'sku-2', 'sku-full']) {
    const stock = sku === 'sku-full' ? 1_000_000_000 : 100_000;
    await app.inject({ method: 'PUT', url: `/inventory/${sku}`, payload: { stock } });
  }
  await app.inject({
    method: 'POST',
    url: '/inventory/sku-1/reservations',
    payload: { orderId: 'order-1', quantity: 5 },
  });
  await app.inject({
    method: 'POST',
    url: '/orders/order-2/hold',
    payload: { lines: [{ sku: 'sku-2', quantity: 3 }] },
  });
});

/** Stock and reservations as PostgreSQL holds them: what a rejected request must leave as it was. */
async function state(): Promise<unknown> {
  const [items, reservations, holds] = await Promise.all([
    pool.query('SELECT sku, stock FROM inventory ORDER BY sku'),
    pool.query(
      'SELECT order_id, sku, quantity, remaining, status FROM reservations ORDER BY order_id',
    ),
    pool.query(
      `SELECT h.order_id, h.status, l.sku, l.quantity FROM holds h JOIN hold_lines l USING (order_id)
       ORDER BY h.order_id, l.sku`,
    ),
  ]);
  return { items: items.rows, reservations: reservations.rows, holds: holds.rows };
}

/** A 400; with `field`, a validation error whose message names that field. */
const json = (
  method: string,
  url: string,
  payload: unknown,
  name: string,
  field?: string,
): HostileExample => ({
  name,
  method,
  url,
  payload,
  status: 400,
  ...(field && { code: 'VALIDATION_ERROR', message: new RegExp(field) }),
});
const putStock = (payload: unknown, name: string, field?: string) =>
  json('PUT', '/inventory/sku-1', payload, name, field);
const reserve = (payload: unknown, name: string, field?: string) =>
  json('POST', '/inventory/sku-1/reservations', payload, name, field);
const hold = (payload: unknown, name: string, field?: string) =>
  json('POST', '/orders/order-h3/hold', payload, name, field);

/** Issue 14's cases for this service, and the failures the generated runs found (see README). */
const examples: HostileExample[] = [
  putStock({ stock: null }, 'null for the stock is not 0', 'stock'),
  putStock({ stock: true }, 'true for the stock is not 1', 'stock'),
  putStock({ stock: '   ' }, 'a blank string for the stock is not 0'),
  putStock({ stock: '7' }, 'a numeric string for the stock is not 7'),
  putStock({ stock: 1_000_000_001 }, 'a stock above 10^9'),
  {
    name: 'a stock that JSON reads as Infinity',
    method: 'PUT',
    url: '/inventory/sku-1',
    headers: { 'content-type': 'application/json' },
    payload: '{"stock":1e400}',
    status: 400,
  },
  reserve({ orderId: 'order-h1', quantity: true }, 'true for the quantity is not 1', 'quantity'),
  reserve({ orderId: 'order-h1', quantity: null }, 'null for the quantity is not 0'),
  reserve({ orderId: 'order-h1', quantity: '1' }, 'a numeric string for the quantity', 'quantity'),
  reserve({ orderId: 'order-h1', quantity: 1001 }, 'a quantity above the bound'),
  reserve({ orderId: 7, quantity: 1 }, 'a number for the orderId'),
  reserve({ orderId: 'order\u0000h1', quantity: 1 }, 'a NUL byte in the orderId'),
  reserve({ orderId: 'order\u001bh1', quantity: 1 }, 'an escape character in the orderId'),
  {
    name: 'a body that is JSON null',
    method: 'POST',
    url: '/inventory/sku-1/reservations',
    headers: { 'content-type': 'application/json' },
    payload: 'null',
    status: 400,
  },
  { method: 'GET', url: '/inventory/sku%00', status: 400 },
  { method: 'GET', url: '/inventory/sku%1b1', status: 400 },
  { method: 'DELETE', url: '/reservations/order%00', status: 400 },
  { method: 'GET', url: '/inventory/nope', status: 404 },
  {
    name: 'a quantity above the stock',
    method: 'POST',
    url: '/inventory/sku-2/reservations',
    payload: { orderId: 'order-h2', quantity: 1000 },
    status: [201, 409],
  },
  {
    name: 'a restock that releasing order-1 would push past 10^9',
    method: 'PUT',
    url: '/inventory/sku-1',
    payload: { stock: 1_000_000_000 },
    status: 409,
  },
  hold(
    { lines: [{ sku: 'sku-1', quantity: true }] },
    'true for a line quantity is not 1',
    'quantity',
  ),
  hold(
    { lines: [{ sku: 'sku-1', quantity: 1 }], ttlMs: '9' },
    'a numeric string for ttlMs',
    'ttlMs',
  ),
  hold({ lines: [{ sku: 'sku-1', quantity: null }] }, 'null for a line quantity'),
  hold({ lines: [] }, 'an order without lines'),
  hold(
    { lines: Array.from({ length: 51 }, (_, i) => ({ sku: `s-${i}`, quantity: 1 })) },
    'more lines than the bound',
  ),
  hold(
    {
      lines: [
        { sku: 'sku-1', quantity: 1 },
        { sku: 'sku-1', quantity: 1 },
      ],
    },
    'one sku on two lines',
  ),
  hold({ lines: [{ sku: 'sku-1', quantity: 1 }], ttlMs: 3_600_001 }, 'a TTL above the maximum'),
  hold({ lines: [{ sku: 'sku\u0000', quantity: 1 }] }, 'a NUL byte in a line sku'),
  {
    name: 'a line short of stock: nothing held',
    method: 'POST',
    url: '/orders/order-h4/hold',
    payload: {
      lines: [
        { sku: 'sku-1', quantity: 1 },
        { sku: 'sku-full', quantity: 1000 },
        { sku: 'sku-2', quantity: 1000 },
      ],
    },
    status: [201, 409],
  },
  {
    name: 'the hold orderId reused for other lines',
    method: 'POST',
    url: '/orders/order-2/hold',
    payload: { lines: [{ sku: 'sku-2', quantity: 4 }] },
    status: 409,
  },
  {
    name: 'the orderId reused for another quantity',
    method: 'POST',
    url: '/inventory/sku-1/reservations',
    payload: { orderId: 'order-1', quantity: 6 },
    status: 409,
  },
];

describe('hostile input on every route of /docs/json', () => {
  hostileInputTests({
    suite: () => ({
      app,
      exclude: ['/metrics'],
      knownValues: {
        sku: ['sku-1', 'sku-2', 'sku-full'],
        orderId: ['order-1', 'order-2', 'order-3'],
      },
      snapshot: state,
      examples,
    }),
    coverage: {
      routes: [
        'DELETE /reservations/{orderId}',
        'GET /health/live',
        'GET /health/ready',
        'GET /inventory/{sku}',
        'GET /orders/{orderId}',
        'GET /reservations/{orderId}',
        'POST /inventory/{sku}/reservations',
        'POST /orders/{orderId}/cancel',
        'POST /orders/{orderId}/confirm',
        'POST /orders/{orderId}/hold',
        'PUT /inventory/{sku}',
      ],
      moreThan: {
        'PUT /inventory/{sku}': { 200: 10, 400: 50 },
        'GET /inventory/{sku}': { 200: 10 },
        'GET /reservations/{orderId}': { 200: 10 },
        'POST /inventory/{sku}/reservations': { 201: 0, 400: 50 },
        'DELETE /reservations/{orderId}': { 204: 0 },
        // A generated hold is all-or-nothing over random lines, so a 201 is rare (0-6 in 200):
        // that it passed validation is what counts here, shown by any answer from the domain.
        'POST /orders/{orderId}/hold': { '201|404|409': 0, 400: 50 },
      },
    },
  });
});
