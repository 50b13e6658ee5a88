// Types of cluster.cjs for the TypeScript callers (end-to-end suite, drills, benchmarks).
import type { ChildProcess } from 'node:child_process';

export interface ServiceInfo {
  name: string;
  port: number;
  database?: string;
}

export interface Instance {
  service: string;
  index: number;
  port: number;
  url: string;
  child: ChildProcess;
  output(): string;
  env: Record<string, string | undefined>;
}

export interface RedisHandle {
  url: string;
  /** SIGSTOP. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** Starts an empty server on the same port. */
  start(): Promise<void>;
}

export interface PostgresHandle {
  url: string;
  pause(): void;
  resume(): void;
}

export interface ClusterOptions {
  replicas?: number;
  freePorts?: boolean;
  ownRedis?: boolean;
  ownPostgres?: boolean;
  dataDir?: string;
  env?: Record<string, Record<string, string>>;
  log?: (line: string) => void;
  seed?: boolean;
  readyTimeoutMs?: number;
  echo?: boolean;
}

export interface Cluster {
  redisUrl: string;
  databaseUrl: string;
  databases: Record<string, string>;
  redis: RedisHandle | null;
  postgres: PostgresHandle | null;
  gatewayUrl: string;
  instances: Instance[];
  restart(instance: Instance): Promise<void>;
  stop(): Promise<void>;
}

export function startCluster(options?: ClusterOptions): Promise<Cluster>;
export const SERVICES: ServiceInfo[];
export function freePort(): Promise<number>;
