import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';

/** A readiness check: resolves true when its dependency can serve now. */
export type HealthCheck = () => Promise<boolean> | boolean;

export interface Health {
  /**
   * Adds a readiness check. A `critical` one that fails makes `/health/ready` 503; a
   * non-critical one is reported as `degraded` and leaves the service ready (fail-open).
   */
  addCheck(name: string, check: HealthCheck, options?: { critical?: boolean }): void;
  /** Set on SIGTERM: readiness answers 503 so load balancers stop sending traffic. */
  shuttingDown: boolean;
  /** Runs every check within the deadline. */
  report(): Promise<{ ready: boolean; checks: Record<string, 'ok' | 'down' | 'degraded'> }>;
}

declare module 'fastify' {
  interface FastifyInstance {
    health: Health;
  }
}

export interface HealthOptions {
  /** Deadline of one readiness answer; a check still pending then counts as down. @default 800 */
  timeoutMs?: number;
}

const HealthBody = Type.Object({
  status: Type.String(),
  checks: Type.Record(Type.String(), Type.String()),
});

async function healthPlugin(app: FastifyInstance, options: HealthOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 800;
  const checks = new Map<string, { check: HealthCheck; critical: boolean }>();

  async function runCheck(check: HealthCheck): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        Promise.resolve().then(check),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  const health: Health = {
    shuttingDown: false,
    addCheck(name, check, { critical = true } = {}) {
      checks.set(name, { check, critical });
    },
    async report() {
      const entries = await Promise.all(
        [...checks].map(async ([name, { check, critical }]) => {
          const ok = await runCheck(check);
          return [name, ok ? 'ok' : critical ? 'down' : 'degraded', ok || !critical] as const;
        }),
      );
      return {
        ready: !health.shuttingDown && entries.every(([, , fine]) => fine),
        checks: Object.fromEntries(entries.map(([name, state]) => [name, state])),
      };
    },
  };
  app.decorate('health', health);

  app.get(
    '/health/live',
    {
      logLevel: 'warn',
      schema: { tags: ['health'], summary: 'The process is alive', response: { 200: HealthBody } },
    },
    async () => ({ status: 'ok', checks: {} }),
  );
  app.get(
    '/health/ready',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Ready for traffic: every critical dependency answers',
        response: { 200: HealthBody, 503: HealthBody },
      },
    },
    async (_request, reply) => {
      const { ready, checks: states } = await health.report();
      const status = health.shuttingDown ? 'shutting-down' : ready ? 'ok' : 'unavailable';
      return reply.code(ready ? 200 : 503).send({ status, checks: states });
    },
  );
}

/** `/health/live` and `/health/ready`, answered within `timeoutMs` whatever the dependencies do. */
export default fp(healthPlugin, { name: '@redis-patterns/health', fastify: '5.x' });
