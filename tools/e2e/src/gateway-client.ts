// HTTP through the gateway replicas, the way a load balancer in front of them behaves: round-robin,
// and a connection that is refused (nothing was sent) goes to the next replica.

export interface Reply {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or the text when it is not JSON; undefined for an empty body. */
  body: unknown;
  ms: number;
  /** Network failure (no HTTP answer): `ECONNRESET`, `TIMEOUT`, ... */
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

function causeCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string; name?: string } }).cause;
  if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError')
    return 'TIMEOUT';
  return cause?.code ?? cause?.name ?? (error as Error).name ?? 'ERROR';
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

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const started = performance.now();
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let last: Reply | undefined;
    const first = this.next;
    this.next += 1;
    for (let attempt = 0; attempt < this.origins.length; attempt += 1) {
      const origin = this.origins[(first + attempt) % this.origins.length];
      try {
        const response = await fetch(`${origin}${path}`, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10000),
        });
        const text = await response.text();
        let body: unknown = text || undefined;
        if (text && response.headers.get('content-type')?.includes('json')) {
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
        }
        return {
          status: response.status,
          headers: response.headers,
          body,
          ms: performance.now() - started,
          via: origin,
        };
      } catch (error) {
        const code = causeCode(error);
        last = {
          status: 0,
          headers: new Headers(),
          body: undefined,
          ms: performance.now() - started,
          error: code,
          via: origin,
        };
        // Only a refused connection is certain to have sent nothing: anything else may have
        // reached a service, so it is reported, not retried.
        if (code !== 'ECONNREFUSED') return last;
      }
    }
    return last as Reply;
  }

  get(path: string, options?: RequestOptions): Promise<Reply> {
    return this.request('GET', path, options);
  }

  post(path: string, body: unknown, options?: RequestOptions): Promise<Reply> {
    return this.request('POST', path, { ...options, body });
  }

  put(path: string, body: unknown, options?: RequestOptions): Promise<Reply> {
    return this.request('PUT', path, { ...options, body });
  }
}

/** The `name=value` part of every Set-Cookie of a reply, joined for a Cookie header. */
export function cookieOf(reply: Reply): string {
  return reply.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}
