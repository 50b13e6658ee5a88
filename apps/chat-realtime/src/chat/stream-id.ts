/**
 * A message id as clients may send it: `<ms>-<seq>` with at most 15 digits of milliseconds (any
 * time before the year 33658, below 2^53 so it stays exact as a number) and 19 of sequence
 * (below 2^64 - 1). Why bounded: Redis refuses ids past 2^64 - 1, and `(` + the largest id as an
 * exclusive start; an id it refuses must be a 400, not read as Redis being unavailable.
 */
export const STREAM_ID_PATTERN = '^\\d{1,15}-\\d{1,19}$';
const STREAM_ID = new RegExp(STREAM_ID_PATTERN);
const ANY_STREAM_ID = /^(\d{1,20})-(\d{1,20})$/;

/** True for a message id a client may send (`STREAM_ID_PATTERN`). */
export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}

/** True for `0-0` (any number of zeros): nothing lies before it, so it cannot end a page. */
export function isZeroStreamId(value: string): boolean {
  return /^0+-0+$/.test(value);
}

/** The millisecond part of a stream id: the Redis server time at which the message was stored. */
export function streamIdTime(id: string): number {
  const match = ANY_STREAM_ID.exec(id);
  if (!match) throw new Error(`not a stream id: ${id}`);
  return Number(match[1]);
}

/** Orders two stream ids numerically (`'9-0' < '10-0'`, which string order gets wrong). */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

/**
 * The XRANGE start for a catch-up after `lastSeenId`. With a margin, the range reaches `marginMs`
 * further back (inclusive), so that a message stored just before `lastSeenId` by another replica
 * but not yet delivered when the client left is not skipped; clients drop what they already
 * have by id. Without a margin it starts strictly after `lastSeenId`.
 */
export function catchupStart(lastSeenId: string, marginMs: number): string {
  if (marginMs <= 0) return `(${lastSeenId}`;
  return `${Math.max(0, streamIdTime(lastSeenId) - marginMs)}-0`;
}

/** The smallest stream id at or after `timeMs`. */
export function streamIdAt(timeMs: number): string {
  return `${Math.max(0, Math.floor(timeMs))}-0`;
}
