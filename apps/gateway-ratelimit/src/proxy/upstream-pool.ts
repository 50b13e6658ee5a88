/**
 * Parses `http://a:1,http://b:2` into origins; throws on anything that is not an http(s) URL
 * without a path, because the gateway maps paths itself.
 */
export function parseUpstreamList(value: string): string[] {
  const origins = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      let url: URL;
      try {
        url = new URL(part);
      } catch {
        throw new Error(
          'must be a comma list of http(s) URLs (the value is not shown: it may hold credentials)',
        );
      }
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/') {
        throw new Error('must be a comma list of http(s) origins without a path');
      }
      return url.origin;
    });
  if (origins.length === 0) throw new Error('must list at least one URL');
  return origins;
}

/**
 * Round-robin over one service's replicas. A replica that refused a connection is skipped for
 * `cooldownMs`, so one dead pod costs one retry, not one failed request per rotation.
 */
export class UpstreamPool {
  private next = 0;
  private readonly downUntil = new Map<string, number>();

  constructor(
    /** Service name, used as the metric label. */
    readonly name: string,
    readonly origins: readonly string[],
    /** How long a refusing replica is skipped. @default 2000 */
    private readonly cooldownMs = 2000,
    private readonly now: () => number = Date.now,
  ) {
    if (origins.length === 0) throw new Error(`${name}: no upstream origins`);
  }

  /**
   * The next replica not in `exclude` and not cooling down; when all are cooling down, the next
   * one not excluded anyway (better a try than a certain 502); when all are excluded, the next.
   */
  pick(exclude: ReadonlySet<string> = new Set()): string {
    const time = this.now();
    return (
      this.take((origin) => !exclude.has(origin) && (this.downUntil.get(origin) ?? 0) <= time) ??
      this.take((origin) => !exclude.has(origin)) ??
      this.take(() => true) ??
      this.origins[0]
    );
  }

  private take(accept: (origin: string) => boolean): string | undefined {
    const count = this.origins.length;
    for (let i = 0; i < count; i += 1) {
      const origin = this.origins[(this.next + i) % count];
      if (!accept(origin)) continue;
      this.next = (this.next + i + 1) % count;
      return origin;
    }
    return undefined;
  }

  /** Records that `origin` refused a connection. */
  markDown(origin: string): void {
    this.downUntil.set(origin, this.now() + this.cooldownMs);
  }
}
