import {
  MAX_SCORE,
  TIE_RANGE,
  decodeScore,
  encodeScore,
  isValidScore,
  tieBreak,
} from './score-encoding';

describe('score encoding', () => {
  it('round-trips the extreme scores and tie-breaks exactly, within 2^53', () => {
    for (const score of [MAX_SCORE, -MAX_SCORE, 0, 1, -1]) {
      for (const tie of [0, TIE_RANGE - 1]) {
        const encoded = encodeScore(score, tie);
        expect(Number.isSafeInteger(encoded)).toBe(true);
        expect(decodeScore(encoded)).toBe(score);
        expect(decodeScore(String(encoded))).toBe(score);
        expect(encoded - score * TIE_RANGE).toBe(tie);
      }
    }
  });

  it('orders by score first, then the earlier time first', () => {
    const early = encodeScore(100, tieBreak(5));
    const late = encodeScore(100, tieBreak(6));
    expect(early).toBeGreaterThan(late);
    expect(encodeScore(101, tieBreak(TIE_RANGE))).toBeGreaterThan(early);
    expect(encodeScore(-5, tieBreak(0))).toBeLessThan(encodeScore(-4, tieBreak(TIE_RANGE)));
  });

  it('clamps times outside the tie range', () => {
    expect(tieBreak(-10)).toBe(TIE_RANGE - 1);
    expect(tieBreak(TIE_RANGE + 10)).toBe(0);
  });

  it('accepts only integers within +-(2^31 - 1)', () => {
    expect(isValidScore(MAX_SCORE)).toBe(true);
    expect(isValidScore(-MAX_SCORE)).toBe(true);
    for (const bad of [MAX_SCORE + 1, -MAX_SCORE - 1, 1.5, NaN, Infinity, -Infinity]) {
      expect(isValidScore(bad)).toBe(false);
    }
  });
});
