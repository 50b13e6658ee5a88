import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ProductStore } from './product-store';

declare module 'fastify' {
  interface FastifyInstance {
    /** The SQL of the catalogue. */
    productStore: ProductStore;
  }
}

/** The name route plugins list in their `dependencies`. */
export const CATALOG_PLUGIN = 'product-api-cache-catalog';

/** The catalogue in PostgreSQL, the source of truth, with its query counter. */
const catalogPlugin: FastifyPluginAsync = async (app) => {
  const store = new ProductStore(
    app.pg,
    app.prom.counter({
      name: 'db_queries_total',
      help: 'SQL statements sent to PostgreSQL, by query',
      labelNames: ['query'],
    }),
  );
  app.decorate('productStore', store);
};

export default fp(catalogPlugin, {
  name: CATALOG_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/postgres'],
});
