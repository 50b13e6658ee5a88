import { earlyRefreshGap, INITIAL_LOAD_MS, LoadTimer } from './early-refresh';

describe('earlyRefreshGap (XFetch)', () => {
  it('is 0 when off or when loads cost nothing', () => {
    expect(earlyRefreshGap(20, 0, () => 0.5)).toBe(0);
    expect(earlyRefreshGap(0, 1, () => 0.5)).toBe(0);
  });

  it('is -delta × beta × ln(u), finite even for random() = 0', () => {
    expect(earlyRefreshGap(20, 2, () => 1 - Math.exp(-1))).toBeCloseTo(40, 6);
    expect(earlyRefreshGap(20, 1, () => 0)).toBe(0);
    expect(Number.isFinite(earlyRefreshGap(20, 1, () => 0.999999999))).toBe(true);
  });

  it('refreshes within t ms of expiry with probability 1 - exp(-t / (delta × beta))', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const draws = Array.from({ length: 20_000 }, () => earlyRefreshGap(10, 1, random));
    const within = (t: number) => draws.filter((gap) => gap >= t).length / draws.length;
    expect(within(10)).toBeCloseTo(Math.exp(-1), 1);
    expect(within(30)).toBeCloseTo(Math.exp(-3), 1);
  });
});

describe('LoadTimer', () => {
  it('starts at the initial estimate and follows the loads', () => {
    const timer = new LoadTimer(0.5);
    expect(timer.deltaMs).toBe(INITIAL_LOAD_MS);
    timer.observe(30);
    expect(timer.deltaMs).toBe(20);
    timer.observe(Number.NaN);
    timer.observe(-1);
    expect(timer.deltaMs).toBe(20);
  });
});
