/**
 * How a score and its arrival sit in a sorted set.
 *
 * The sorted-set score is the player's score itself (negated on `asc` boards, so every board
 * reads best-first with ZREVRANGE). An IEEE double holds every integer up to 2^53 exactly, so
 * scores may use the whole range ±(2^53 − 1) and nothing else has to share those bits.
 *
 * Ties are decided by the member: Redis orders equal scores by member, bytewise. The member is
 * `pad16(2^53 − arrival) + playerId`, where `arrival` is the board's counter (HINCRBY in the
 * submit script, so Redis, not a clock, decides it) at the submission that gave the player this
 * score. A smaller arrival makes a larger 16-digit prefix, so of two equal scores the one Redis
 * took first ranks higher under ZREVRANGE; the prefix is unique per arrival, so the player id
 * never decides. 2^53 − 1 arrivals per board is 285 years at a million submissions a second.
 * A hash per sorted set maps player id -> arrival, so a player's member is found in O(1).
 */
export const MAX_SCORE = Number.MAX_SAFE_INTEGER;
/** Arrivals count from 1 and stay below this. */
export const ARRIVAL_LIMIT = 2 ** 53;
export const ARRIVAL_DIGITS = 16;

export type SortOrder = 'desc' | 'asc';

/** True for an integer a board can hold exactly. */
export function isValidScore(score: number): boolean {
  return Number.isSafeInteger(score) && Math.abs(score) <= MAX_SCORE;
}

/** The sorted-set member of `playerId` holding a score reached at `arrival`. */
export function arrivalMember(arrival: number, playerId: string): string {
  return String(ARRIVAL_LIMIT - arrival).padStart(ARRIVAL_DIGITS, '0') + playerId;
}

/** The player id inside a member. */
export function playerOfMember(member: string): string {
  return member.slice(ARRIVAL_DIGITS);
}

/** The arrival inside a member. */
export function arrivalOfMember(member: string): number {
  return ARRIVAL_LIMIT - Number(member.slice(0, ARRIVAL_DIGITS));
}

/** The sorted-set score of `score` on a board sorted `sort`. */
export function storedScore(score: number, sort: SortOrder): number {
  return sort === 'asc' && score !== 0 ? -score : score;
}

/** The player's score from a sorted-set score (a string as Redis returns it, or a number). */
export function scoreOf(stored: string | number, sort: SortOrder): number {
  const value = Number(stored);
  return sort === 'asc' && value !== 0 ? -value : value;
}

/**
 * Subscores (boards configured with one) sit in the member before the arrival:
 * `subscoreKey(subscore) + pad16(2^53 − arrival) + playerId`. The key is 17 characters that
 * sort bytewise as the subscore ranks (the better one larger, so it ranks higher under
 * ZREVRANGE): `1` + pad16(v) for v ≥ 0, `0` + pad16(2^53 + v) for v < 0, with v the subscore
 * (negated when the subscore sorts `asc`). Equal scores therefore order by subscore, then by
 * arrival. The arrival hash holds `arrival:key` for such boards (just `arrival` otherwise), so a
 * player's member is still found in O(1) and its rank in O(log N).
 */
export const SUBSCORE_DIGITS = 17;

/** The 17-character member prefix of `subscore` on a subscore sorted `order`. */
export function subscoreKey(subscore: number, order: SortOrder): string {
  const v = order === 'asc' ? -subscore : subscore;
  if (v >= 0) return `1${String(Math.abs(v)).padStart(ARRIVAL_DIGITS, '0')}`;
  return `0${String(ARRIVAL_LIMIT + v).padStart(ARRIVAL_DIGITS, '0')}`;
}

/** The subscore inside a member of a subscore board. */
export function subscoreOfMember(member: string, order: SortOrder): number {
  const digits = Number(member.slice(1, SUBSCORE_DIGITS));
  const v = member[0] === '1' ? digits : digits - ARRIVAL_LIMIT;
  const subscore = order === 'asc' ? -v : v;
  return subscore === 0 ? 0 : subscore;
}

/** The sorted-set member of `playerId` on a subscore board. */
export function subscoreMember(
  subscore: number,
  order: SortOrder,
  arrival: number,
  playerId: string,
): string {
  return subscoreKey(subscore, order) + arrivalMember(arrival, playerId);
}

/** The arrival-hash value of a player: `arrival`, or `arrival:key` on a subscore board. */
export function arrivalValue(arrival: number, subscore: number, order: SortOrder | null): string {
  return order ? `${arrival}:${subscoreKey(subscore, order)}` : String(arrival);
}

/** Where the player id starts in a member of a board with (`true`) or without a subscore. */
export function memberPrefixLength(withSubscore: boolean): number {
  return withSubscore ? SUBSCORE_DIGITS + ARRIVAL_DIGITS : ARRIVAL_DIGITS;
}
