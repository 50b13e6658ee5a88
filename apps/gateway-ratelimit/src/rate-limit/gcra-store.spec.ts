import { toStoreResult } from './gcra-store';

describe('toStoreResult', () => {
  it('maps an allowed decision to current = max - remaining and the reset', () => {
    expect(toStoreResult([1, 7, 0, 3000], 10)).toEqual({ current: 3, ttl: 3000 });
  });

  it('maps a refusal past max with the retry wait as ttl', () => {
    expect(toStoreResult([0, 0, 250, 9800], 10)).toEqual({ current: 11, ttl: 250 });
  });
});
