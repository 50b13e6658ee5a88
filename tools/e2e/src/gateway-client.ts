// HTTP through the gateway replicas, the way a load balancer in front of them behaves: round-robin,
// and a request certain not to have been processed goes to the next replica: a refused
// connection (nothing was sent), or a stopping replica's 503 SHUTTING_DOWN (its promise: not
// processed). Each attempt is testkit's `httpCall`; a network failure becomes an answer with
// status 0 and its error code, so a load can count it instead of stopping.
import { httpCall, type HttpAnswer } from '@redis-patterns/testkit';

export interface Reply<B = Record<string, unknown>> extends HttpAnswer<B> {
  /** Network failure (no HTTP answer, status 0): `ECONNRESET`, `TIMEOUT`, ... */
  error?: string;
  /** The gateway replica that answered. */
  via: string;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Abort after this many ms (reported as error `TIMEOUT`). @default 10000 */
  timeoutMs?: number;
}

function loopbackOnly(url: string): string {
  const { hostname } = new URL(url);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') {
    throw new Error(`traffic only goes to 127.0.0.1, not ${hostname}`);
  }
  return url.replace(/\/+$/, '');
}

/** The code of fetch's failure, which `httpCall` carries as the cause of the error it throws. */
function causeCode(thrown: unknown): string {
  const error = ((thrown as { cause?: unknown }).cause ?? thrown) as Error;
  const cause = (error as { cause?: { code?: string; name?: string } }).cause;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'TIMEOUT';
  return cause?.code ?? cause?.name ?? error.name ?? 'ERROR';
}

export class GatewayClient {
  private readonly origins: string[];
  private next = 0;

  constructor(origins: string | string[]) {
    this.origins = (Array.isArray(origins) ? origins : [origins]).map(loopbackOnly);
  }

  get urls(): readonly string[] {
    return this.origins;
  }

  async request<B = Record<string, unknown>>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<Reply<B>> {
    const started = performance.now();
    let last: Reply<B> | undefined;
    const first = this.next;
    this.next += 1;
    for (let attempt = 0; attempt < this.origins.length; attempt += 1) {
      const origin = this.origins[(first + attempt) % this.origins.length];
      try {
        const answer = await httpCall<B>(origin, method, path, {
          body: options.body,
          headers: options.headers,
          timeoutMs: options.timeoutMs ?? 10000,
        });
        const reply = { ...answer, ms: performance.now() - started, via: origin };
        const code = (reply.body as { code?: unknown }).code;
        if (reply.status !== 503 || code !== 'SHUTTING_DOWN') return reply;
        last = reply;
      } catch (error) {
        const code = causeCode(error);
        last = {
          status: 0,
          headers: new Headers(),
          text: '',
          body: {} as B,
          ms: performance.now() - started,
          error: code,
          via: origin,
        };
        // Only a refused connection is certain to have sent nothing: anything else may have
        // reached a service, so it is reported, not retried.
        if (code !== 'ECONNREFUSED') return last;
      }
    }
    return last as Reply<B>;
  }

  get<B = Record<string, unknown>>(path: string, options?: RequestOptions): Promise<Reply<B>> {
    return this.request<B>('GET', path, options);
  }

  post<B = Record<string, unknown>>(
    path: string,
    body: unknown,
    options?: RequestOptions,
  ): Promise<Reply<B>> {
    return this.request<B>('POST', path, { ...options, body });
  }

  put<B = Record<string, unknown>>(
    path: string,
    body: unknown,
    options?: RequestOptions,
  ): Promise<Reply<B>> {
    return this.request<B>('PUT', path, { ...options, body });
  }
}

/** The `name=value` part of every Set-Cookie of a reply, joined for a Cookie header. */
export function cookieOf(reply: { headers: Headers }): string {
  return reply.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}
