const SAFE_PART = /^[^\s{}]+$/;

/** Builds every Redis key of one service from one prefix, so services sharing a Redis never collide. */
export interface KeyBuilder {
  readonly prefix: string;
  /** `prefix:part1:part2` */
  key(...parts: Array<string | number>): string;
  /**
   * `prefix:{tag}:part1` — every key built with the same tag hashes to the same Cluster slot, so
   * one script may touch them all (no CROSSSLOT).
   */
  tagged(tag: string | number, ...parts: Array<string | number>): string;
  /** A builder for a sub-namespace: `prefix:sub`. */
  child(sub: string): KeyBuilder;
}

function checkPart(part: string | number): string {
  const text = String(part);
  if (!SAFE_PART.test(text)) {
    throw new Error(`Redis key part must be non-empty without spaces or braces: "${text}"`);
  }
  return text;
}

export function createKeyBuilder(prefix: string): KeyBuilder {
  checkPart(prefix);
  return {
    prefix,
    key: (...parts) => [prefix, ...parts.map(checkPart)].join(':'),
    tagged: (tag, ...parts) => [prefix, `{${checkPart(tag)}}`, ...parts.map(checkPart)].join(':'),
    child: (sub) => createKeyBuilder(`${prefix}:${checkPart(sub)}`),
  };
}
