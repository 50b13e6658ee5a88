import {
  catchupStart,
  compareStreamIds,
  isStreamId,
  isZeroStreamId,
  streamIdAt,
  streamIdTime,
} from './stream-id';

describe('stream ids', () => {
  it('recognises <ms>-<seq> only', () => {
    expect(isStreamId('1700000000000-0')).toBe(true);
    expect(isStreamId('1700000000000')).toBe(false);
    expect(isStreamId('a-1')).toBe(false);
    expect(isStreamId('(1-0')).toBe(false);
  });

  it('refuses ids Redis would refuse: past 2^64 - 1, or beyond an exact millisecond number', () => {
    expect(isStreamId('999999999999999-9999999999999999999')).toBe(true);
    expect(isStreamId('18446744073709551616-0')).toBe(false);
    expect(isStreamId('1-18446744073709551616')).toBe(false);
    expect(isStreamId('1000000000000000-0')).toBe(false);
    expect(isZeroStreamId('0-0')).toBe(true);
    expect(isZeroStreamId('000-00')).toBe(true);
    expect(isZeroStreamId('0-1')).toBe(false);
  });

  it('orders numerically, not as strings', () => {
    expect(compareStreamIds('9-0', '10-0')).toBe(-1);
    expect(compareStreamIds('10-2', '10-10')).toBe(-1);
    expect(compareStreamIds('10-3', '10-3')).toBe(0);
    expect(['10-0', '9-5', '9-10'].sort(compareStreamIds)).toEqual(['9-5', '9-10', '10-0']);
  });

  it('reads the time part', () => {
    expect(streamIdTime('1700000000123-4')).toBe(1700000000123);
    expect(() => streamIdTime('x')).toThrow();
  });

  it('starts a catch-up strictly after the id, or a margin before it', () => {
    expect(catchupStart('5000-3', 0)).toBe('(5000-3');
    expect(catchupStart('5000-3', 2000)).toBe('3000-0');
    expect(catchupStart('1000-0', 2000)).toBe('0-0');
    expect(streamIdAt(1234.7)).toBe('1234-0');
    expect(streamIdAt(-5)).toBe('0-0');
  });
});
