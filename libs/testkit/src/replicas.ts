import type { FastifyInstance } from 'fastify';

/** n instances of one service, each its own Fastify app, Redis connections and port. */
export interface Replicas<App extends FastifyInstance = FastifyInstance> {
  readonly apps: App[];
  /** `http://127.0.0.1:<port>` per replica, in order. */
  readonly urls: string[];
  /** The URL of replica `i`, round-robin when `i` is larger than the count. */
  url(i: number): string;
  /** Closes replica `i` gracefully (in-flight requests finish). */
  stop(i: number): Promise<void>;
  /** Closes every replica still open. */
  close(): Promise<void>;
}

/**
 * Starts `n` replicas built by `build(index)` and listening on free ports of 127.0.0.1. Every
 * cross-replica property of a pattern is tested through this.
 */
export async function startReplicas<App extends FastifyInstance>(
  n: number,
  build: (index: number) => Promise<App>,
): Promise<Replicas<App>> {
  const apps: App[] = [];
  const urls: string[] = [];
  const closed = new Set<number>();
  try {
    for (let i = 0; i < n; i += 1) {
      const app = await build(i);
      apps.push(app);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const address = app.server.address();
      if (!address || typeof address !== 'object') throw new Error('replica has no address');
      urls.push(`http://127.0.0.1:${address.port}`);
    }
  } catch (error) {
    await Promise.allSettled(apps.map((app) => app.close()));
    throw error;
  }
  const stop = async (i: number) => {
    if (closed.has(i)) return;
    closed.add(i);
    await apps[i].close();
  };
  return {
    apps,
    urls,
    url: (i) => urls[i % urls.length],
    stop,
    close: async () => void (await Promise.allSettled(apps.map((_, i) => stop(i)))),
  };
}
