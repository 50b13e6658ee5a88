import { SlidingWindowLimiter } from './rate-limiter';

describe('SlidingWindowLimiter', () => {
  it('allows max events per window and refuses the next', () => {
    const limiter = new SlidingWindowLimiter(3, 1000);
    expect([0, 10, 20].map((t) => limiter.tryTake(t))).toEqual([true, true, true]);
    expect(limiter.tryTake(30)).toBe(false);
    expect(limiter.retryAfterMs(30)).toBe(970);
  });

  it('slides: an event leaves the window exactly windowMs later', () => {
    const limiter = new SlidingWindowLimiter(2, 1000);
    limiter.tryTake(0);
    limiter.tryTake(500);
    expect(limiter.tryTake(999)).toBe(false);
    expect(limiter.tryTake(1000)).toBe(true);
    expect(limiter.tryTake(1001)).toBe(false);
    expect(limiter.tryTake(1500)).toBe(true);
  });

  it('does not count refused events', () => {
    const limiter = new SlidingWindowLimiter(1, 100);
    limiter.tryTake(0);
    for (let t = 1; t < 100; t += 1) expect(limiter.tryTake(t)).toBe(false);
    expect(limiter.tryTake(100)).toBe(true);
  });
});
