/**
 * A sorted-set score carries the player's score and a tie-break in one IEEE double, exact only
 * below 2^53. Scores use the high 32 bits (|score| <= 2^31 - 1), the low 22 bits hold
 * `TIE_RANGE - 1 - ticks`, so of two equal scores the one reached earlier sorts higher.
 */
export const MAX_SCORE = 2 ** 31 - 1;
export const TIE_BITS = 22;
export const TIE_RANGE = 2 ** TIE_BITS;

/** True for an integer the encoding can hold exactly. */
export function isValidScore(score: number): boolean {
  return Number.isSafeInteger(score) && Math.abs(score) <= MAX_SCORE;
}

/**
 * The tie-break part for a time `ticks` ticks after the board's origin: larger means earlier.
 * Times before the origin count as the origin, times past the range as its last tick.
 */
export function tieBreak(ticks: number): number {
  const clamped = Math.min(Math.max(Math.floor(ticks), 0), TIE_RANGE - 1);
  return TIE_RANGE - 1 - clamped;
}

/** The sorted-set score of `score` reached with tie-break `tie` (exact: below 2^53 in magnitude). */
export function encodeScore(score: number, tie: number): number {
  return score * TIE_RANGE + tie;
}

/** The player's score from a sorted-set score (a string as Redis returns it, or a number). */
export function decodeScore(encoded: string | number): number {
  return Math.floor(Number(encoded) / TIE_RANGE);
}
