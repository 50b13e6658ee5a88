import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config';
import { isReady } from './readiness-policy';

/**
 * Readiness (`serving`) by the policy of `READINESS_MODE`: a replica whose PostgreSQL is away
 * still serves its hits and stale copies, so neither dependency alone decides by default.
 */
export function addServingCheck(app: FastifyInstance, config: AppConfig): void {
  app.health.addCheck('serving', () =>
    isReady(config.readiness, {
      redis: config.cache.enabled ? async () => (await app.redis.ping()) === 'PONG' : undefined,
      database: async () => {
        await app.pg.query('SELECT 1');
        return true;
      },
    }),
  );
}
