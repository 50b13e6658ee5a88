import { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { DomainError } from '@redis-patterns/service-kit';
import { causeCode, IDEMPOTENT, REFUSED, RESET, TIMEOUTS } from './upstream-errors';
import type { UpstreamPool } from './upstream-pool';

/** One request to send to some replica of a pool. */
export interface UpstreamCall {
  method: string;
  /** Upstream path with the query string. */
  path: string;
  headers: Record<string, string | string[]>;
  /** The raw bytes the client sent, kept so that a replay sends them again. */
  body: Buffer | undefined;
  signal: AbortSignal;
  /** Deadline for the response headers. */
  timeoutMs: number;
}

/**
 * True when a 503 is service-kit's SHUTTING_DOWN (the replica did not process the request, so
 * any method may be replayed); otherwise the same response with its (small) body read back in.
 */
async function notProcessed(
  response: Dispatcher.ResponseData,
): Promise<true | Dispatcher.ResponseData> {
  const length = Number(response.headers['content-length'] ?? Infinity);
  if (!(length <= 4096)) return response;
  const bytes = Buffer.from(await response.body.arrayBuffer());
  try {
    if ((JSON.parse(bytes.toString('utf8')) as { code?: unknown }).code === 'SHUTTING_DOWN') {
      return true;
    }
  } catch {
    // not JSON: an ordinary 503
  }
  return { ...response, body: Readable.from([bytes]) as Dispatcher.ResponseData['body'] };
}

/**
 * Sends `call` to the pool's replicas round-robin until one answers: a refused connection is
 * retried on the next replica for any method, a reset keep-alive socket for idempotent methods,
 * and a 503 SHUTTING_DOWN (the replica did nothing) is replayed on the next one. When no replica
 * answers: 504 for a timeout, else 502, in the error envelope (`onFailure` called first).
 */
export async function dispatchToPool(
  agent: Agent,
  pool: UpstreamPool,
  call: UpstreamCall,
  onFailure: () => void,
): Promise<Dispatcher.ResponseData> {
  const tried = new Set<string>();
  let origin = pool.pick();
  tried.add(origin);
  for (;;) {
    try {
      const response = await agent.request({
        origin,
        path: call.path,
        method: call.method,
        headers: call.headers,
        body: call.body,
        headersTimeout: call.timeoutMs,
        // Bounded per response by the caller, once it is known whether it streams.
        bodyTimeout: 0,
        signal: call.signal,
      });
      if (response.statusCode !== 503 || tried.size >= pool.origins.length) return response;
      const unprocessed = await notProcessed(response);
      if (unprocessed !== true) return unprocessed;
      // The replica is shutting down and did nothing: the next one gets the request.
      pool.markDown(origin);
    } catch (error) {
      const code = causeCode(error);
      if (REFUSED.has(code)) pool.markDown(origin);
      const retry = REFUSED.has(code) || (RESET.has(code) && IDEMPOTENT.has(call.method));
      if (!retry || tried.size >= pool.origins.length || call.signal.aborted) {
        onFailure();
        if (TIMEOUTS.has(code)) {
          throw new DomainError(
            504,
            'GATEWAY_TIMEOUT',
            `${pool.name} did not answer within ${call.timeoutMs} ms`,
          );
        }
        throw new DomainError(502, 'BAD_GATEWAY', `${pool.name} is unavailable`);
      }
    }
    origin = pool.pick(tried);
    tried.add(origin);
  }
}
