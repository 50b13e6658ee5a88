import {
  ARRIVAL_LIMIT,
  MAX_SCORE,
  arrivalMember,
  arrivalOfMember,
  isValidScore,
  playerOfMember,
  scoreOf,
  storedScore,
  SUBSCORE_DIGITS,
  memberPrefixLength,
  subscoreMember,
  subscoreOfMember,
} from './score-encoding';

describe('score encoding', () => {
  it('round-trips the extreme scores exactly on both sort orders', () => {
    for (const score of [MAX_SCORE, -MAX_SCORE, 0, 1, -1, 2 ** 31, -(2 ** 31)]) {
      for (const sort of ['desc', 'asc'] as const) {
        const stored = storedScore(score, sort);
        expect(Number.isSafeInteger(stored)).toBe(true);
        expect(scoreOf(stored, sort)).toBe(score);
        expect(scoreOf(String(stored), sort)).toBe(score);
      }
    }
    expect(storedScore(5, 'asc')).toBeGreaterThan(storedScore(7, 'asc'));
  });

  it('orders equal scores by arrival, whatever the player ids', () => {
    // Bytewise descending (ZREVRANGE): the earlier arrival first.
    const members = [
      arrivalMember(3, 'aaa'),
      arrivalMember(1, 'zzz'),
      arrivalMember(2, 'mmm'),
      arrivalMember(ARRIVAL_LIMIT - 1, '0'),
      arrivalMember(10, 'b'),
    ];
    const sorted = [...members].sort().reverse();
    expect(sorted.map(playerOfMember)).toEqual(['zzz', 'mmm', 'aaa', 'b', '0']);
    expect(sorted.map(arrivalOfMember)).toEqual([1, 2, 3, 10, ARRIVAL_LIMIT - 1]);
    expect(new Set(members.map((m) => m.slice(0, 16).length))).toEqual(new Set([16]));
  });

  it('accepts only integers within ±(2^53 − 1)', () => {
    expect(isValidScore(MAX_SCORE)).toBe(true);
    expect(isValidScore(-MAX_SCORE)).toBe(true);
    for (const bad of [MAX_SCORE + 1, -MAX_SCORE - 1, 1.5, NaN, Infinity, -Infinity]) {
      expect(isValidScore(bad)).toBe(false);
    }
  });
});

describe('subscore encoding', () => {
  const values = [-MAX_SCORE, -(2 ** 31), -2, -1, 0, 1, 2, 2 ** 31, MAX_SCORE];

  it('round-trips every subscore exactly, on both orders', () => {
    for (const order of ['desc', 'asc'] as const) {
      for (const subscore of values) {
        const member = subscoreMember(subscore, order, 7, 'p');
        expect(member).toHaveLength(SUBSCORE_DIGITS + 16 + 1);
        expect(subscoreOfMember(member, order)).toBe(subscore);
        expect(member.slice(memberPrefixLength(true))).toBe('p');
      }
    }
  });

  it('sorts members bytewise by subscore (the better larger), then by arrival', () => {
    for (const order of ['desc', 'asc'] as const) {
      const better = (a: number, b: number) => (order === 'desc' ? a > b : a < b);
      for (const a of values) {
        for (const b of values) {
          // Later arrival (9) for a: only the subscore may make it rank higher.
          const ma = subscoreMember(a, order, 9, 'zz');
          const mb = subscoreMember(b, order, 3, 'aa');
          if (better(a, b)) expect(ma > mb).toBe(true);
          else expect(ma < mb).toBe(true);
        }
      }
    }
  });
});
