import { periodTtlMs, periodWindow, retainedWindows } from './periods';

const at = (iso: string) => Date.parse(iso);
const DAY = 86_400_000;

describe('periods (UTC)', () => {
  it('names the day, the week by its Monday and the month', () => {
    const now = at('2026-11-26T23:59:59.999Z'); // a Thursday
    expect(periodWindow('daily', now)).toEqual({
      id: '2026-11-26',
      startMs: at('2026-11-26T00:00:00Z'),
      endMs: at('2026-11-27T00:00:00Z'),
    });
    expect(periodWindow('weekly', now).id).toBe('2026-11-23');
    expect(periodWindow('weekly', at('2026-11-29T12:00:00Z')).id).toBe('2026-11-23'); // Sunday
    expect(periodWindow('weekly', at('2026-11-30T00:00:00Z')).id).toBe('2026-11-30'); // Monday
    expect(periodWindow('monthly', now)).toEqual({
      id: '2026-11',
      startMs: at('2026-11-01T00:00:00Z'),
      endMs: at('2026-12-01T00:00:00Z'),
    });
    expect(periodWindow('monthly', at('2026-12-31T23:00:00Z')).endMs).toBe(
      at('2027-01-01T00:00:00Z'),
    );
  });

  it('rolls over exactly at midnight UTC', () => {
    expect(periodWindow('daily', at('2026-11-26T23:59:59.999Z')).id).toBe('2026-11-26');
    expect(periodWindow('daily', at('2026-11-27T00:00:00.000Z')).id).toBe('2026-11-27');
  });

  it('keeps a board for its remaining period plus the retention', () => {
    const now = at('2026-11-26T18:00:00Z');
    expect(periodTtlMs('daily', now, DAY)).toBe(6 * 3_600_000 + DAY);
  });

  it('lists the windows that may still exist, current first', () => {
    const now = at('2026-11-26T18:00:00Z');
    expect(retainedWindows('daily', now, 2 * DAY).map((w) => w.id)).toEqual([
      '2026-11-26',
      '2026-11-25',
      '2026-11-24',
    ]);
    expect(retainedWindows('monthly', now, 0).map((w) => w.id)).toEqual(['2026-11']);
  });
});
