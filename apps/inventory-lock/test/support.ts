import { Client } from 'pg';
import type { AppConfig, HoldConfig, LockConfig } from '../src/config';

export interface TestConfigOptions {
  redisUrl: string;
  databaseUrl: string;
  lockUrls?: string[];
  lock?: Partial<LockConfig>;
  strategy?: AppConfig['strategy'];
  /** Shared by every replica of one test: the lock keys must be the same. */
  keyPrefix: string;
  holds?: Partial<HoldConfig>;
  /** The replicas' clock for hold expiry. @default Date.now */
  clock?: () => number;
}

/** A clock the test moves: hold expiry without waiting. */
export class TestClock {
  private offsetMs = 0;
  readonly now = (): number => Date.now() + this.offsetMs;
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** A config for tests: silent, test hooks on, a generous lock retry budget for hot-sku storms. */
export function testConfig(options: TestConfigOptions): AppConfig {
  return {
    logLevel: 'silent',
    redis: { url: options.redisUrl },
    keyPrefix: options.keyPrefix,
    database: { url: options.databaseUrl, poolSize: 8, statementTimeoutMs: 5000 },
    lock: {
      urls: options.lockUrls ?? [options.redisUrl],
      commandTimeoutMs: 200,
      ttlMs: 3000,
      retryCount: 400,
      retryDelayMs: 20,
      retryJitterMs: 20,
      driftFactor: 0.01,
      extendThresholdMs: 1000,
      ...options.lock,
    },
    strategy: options.strategy ?? 'redlock',
    testHooks: true,
    holds: { defaultTtlMs: 600000, maxTtlMs: 3600000, sweepIntervalMs: 1000, ...options.holds },
    clock: options.clock,
  };
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
  ms: number;
}

/** One HTTP call with a JSON body; never throws on a status. */
export async function call(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const started = Date.now();
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
    ms: Date.now() - started,
  };
}

/** Direct SQL on the service's database, to check what was really written. */
export async function sql<T extends Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Several queries read from one snapshot (REPEATABLE READ, read only): a writer that commits
 * between them (the hold sweeper, say) cannot make them disagree.
 */
export async function sqlSnapshot(
  databaseUrl: string,
  texts: string[],
): Promise<Record<string, unknown>[][]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const results: Record<string, unknown>[][] = [];
    for (const text of texts) results.push((await client.query(text)).rows);
    await client.query('COMMIT');
    return results;
  } finally {
    await client.end();
  }
}

/** Counts answers by status code. */
export function byStatus(answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const answer of answers) counts[answer.status] = (counts[answer.status] ?? 0) + 1;
  return counts;
}
