import { classifyFailure, retryAfterSeconds, retryDelay } from './acquire-policy';

const locked = { locked: true };
const down = { locked: false };

describe('classifyFailure', () => {
  it('keeps waiting while the resource is held by someone else', () => {
    expect(classifyFailure([locked, locked], 3, 2)).toBe('contended');
    expect(classifyFailure([locked, down], 3, 2)).toBe('contended');
    expect(classifyFailure([locked], 1, 1)).toBe('contended');
  });

  it('gives up at once when too many masters are away for any quorum', () => {
    expect(classifyFailure([down, down], 3, 2)).toBe('unavailable');
    expect(classifyFailure([down], 1, 1)).toBe('unavailable');
    expect(classifyFailure([down, down, locked], 5, 3)).toBe('contended');
    expect(classifyFailure([down, down, down], 5, 3)).toBe('unavailable');
  });
});

describe('retryDelay', () => {
  it('stays within delay ± jitter and never goes negative', () => {
    expect(retryDelay(50, 20, () => 0)).toBe(30);
    expect(retryDelay(50, 20, () => 1)).toBe(70);
    expect(retryDelay(5, 20, () => 0)).toBe(0);
  });
});

describe('retryAfterSeconds', () => {
  it('is about one lease, in whole seconds, at least one', () => {
    expect(retryAfterSeconds(200)).toBe(1);
    expect(retryAfterSeconds(3000)).toBe(3);
    expect(retryAfterSeconds(3500)).toBe(4);
  });
});
