import { RedisBreaker } from './redis-breaker';

const failing = () => Promise.reject(new Error('Command timed out'));

describe('RedisBreaker', () => {
  it('opens after consecutive failures even when the last second was mostly successful', async () => {
    const breaker = new RedisBreaker({ consecutiveFailures: 2, resetTimeoutMs: 60_000 });
    try {
      for (let i = 0; i < 20; i += 1) await breaker.run(async () => 'ok');
      await expect(breaker.run(failing)).rejects.toThrow('timed out');
      expect(breaker.closed).toBe(true);
      await expect(breaker.run(failing)).rejects.toThrow('timed out');
      expect(breaker.closed).toBe(false);
      let ran = false;
      await expect(
        breaker.run(async () => {
          ran = true;
        }),
      ).rejects.toThrow(/open/i);
      expect(ran).toBe(false);
    } finally {
      breaker.shutdown();
    }
  });

  it('a success resets the count', async () => {
    const breaker = new RedisBreaker({ consecutiveFailures: 2, volumeThreshold: 100 });
    try {
      await expect(breaker.run(failing)).rejects.toThrow();
      await breaker.run(async () => 'ok');
      await expect(breaker.run(failing)).rejects.toThrow();
      expect(breaker.closed).toBe(true);
    } finally {
      breaker.shutdown();
    }
  });

  it('lets a trial command through after the reset timeout and closes when it succeeds', async () => {
    const breaker = new RedisBreaker({ consecutiveFailures: 1, resetTimeoutMs: 100 });
    try {
      await expect(breaker.run(failing)).rejects.toThrow();
      expect(breaker.closed).toBe(false);
      expect(breaker.opened).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 150));
      // Half-open: not open any more (a write may try), not closed either.
      expect(breaker.opened).toBe(false);
      await expect(breaker.run(async () => 'back')).resolves.toBe('back');
      expect(breaker.closed).toBe(true);
    } finally {
      breaker.shutdown();
    }
  });
});
