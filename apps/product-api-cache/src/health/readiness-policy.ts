import type { ReadinessMode } from '../config';

/** A probe of one dependency: resolves true when it can serve now. */
export type Probe = () => Promise<boolean>;

export interface ReadinessProbes {
  /** Redis answers (only asked when the cache is on: with it off, Redis serves nothing). */
  redis?: Probe;
  database: Probe;
}

async function safely(probe: Probe): Promise<boolean> {
  try {
    return await probe();
  } catch {
    return false;
  }
}

/**
 * Whether this replica should take traffic. With `either`, a replica whose PostgreSQL is away
 * still serves hits and stale copies (and 503s only the rest), and one whose Redis is away
 * serves from PostgreSQL, so only both away takes it out; PostgreSQL is probed only when Redis
 * is not answering, so a stalled database costs no probe while the cache serves.
 */
export async function isReady(mode: ReadinessMode, probes: ReadinessProbes): Promise<boolean> {
  const redis = probes.redis;
  switch (mode) {
    case 'database':
      return safely(probes.database);
    case 'both':
      return (redis === undefined || (await safely(redis))) && (await safely(probes.database));
    case 'either':
      return (redis !== undefined && (await safely(redis))) || safely(probes.database);
  }
}
