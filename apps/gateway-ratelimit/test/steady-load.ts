import { call } from './support';

/** One client of the load: its address, the path that selects its policy, and its fail mode. */
export interface LoadClient {
  name: string;
  ip: string;
  path: string;
  failMode: 'open' | 'closed';
}

/** One request of the load and how it was answered. */
export interface Sample {
  client: string;
  /** performance.now() at send and at the end of the body. */
  start: number;
  end: number;
  /** HTTP status, 0 when the request did not finish within the client deadline. */
  status: number;
  /** The error code of a refusal (`RATE_LIMIT_UNAVAILABLE`, ...). */
  code?: string;
  /** A decision Redis made: the answer carries `x-ratelimit-remaining`. */
  counted: boolean;
  remaining?: number;
}

/** Far past every bound the tests state: a request still open then is a hang. */
const CLIENT_DEADLINE_MS = 10000;

/**
 * Keeps `workersPerClient` request loops per client running against the gateways (round-robin)
 * until `stop()`, recording every answer.
 */
export function startLoad(gatewayUrls: string[], clients: LoadClient[], workersPerClient = 3) {
  const samples: Sample[] = [];
  let running = true;
  let turn = 0;
  const worker = async (client: LoadClient) => {
    while (running) {
      const url = gatewayUrls[turn++ % gatewayUrls.length];
      const start = performance.now();
      try {
        const answer = await call(`${url}${client.path}`, {
          headers: { 'x-forwarded-for': client.ip },
          signal: AbortSignal.timeout(CLIENT_DEADLINE_MS),
        });
        const remaining = answer.headers.get('x-ratelimit-remaining');
        let code: string | undefined;
        if (answer.status >= 400) code = (JSON.parse(answer.body) as { code?: string }).code;
        samples.push({
          client: client.name,
          start,
          end: performance.now(),
          status: answer.status,
          code,
          counted: remaining !== null,
          remaining: remaining === null ? undefined : Number(remaining),
        });
      } catch {
        samples.push({
          client: client.name,
          start,
          end: performance.now(),
          status: 0,
          counted: false,
        });
      }
    }
  };
  const workers = clients.flatMap((client) =>
    Array.from({ length: workersPerClient }, () => worker(client)),
  );
  return {
    samples,
    async stop(): Promise<Sample[]> {
      running = false;
      await Promise.all(workers);
      return samples;
    },
  };
}

/** The p-quantile (0..1) of `values`. */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
