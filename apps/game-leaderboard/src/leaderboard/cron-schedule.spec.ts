import { CronError, parseCron } from './cron-schedule';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('cron schedule (UTC)', () => {
  it('fires daily at midnight: next is strictly after, previous at or before', () => {
    const daily = parseCron('0 0 * * *');
    expect(iso(daily.next(at('2026-11-26T12:00:00Z')))).toBe('2026-11-27T00:00:00.000Z');
    expect(iso(daily.next(at('2026-11-27T00:00:00Z')))).toBe('2026-11-28T00:00:00.000Z');
    expect(iso(daily.previous(at('2026-11-27T00:00:00Z')))).toBe('2026-11-27T00:00:00.000Z');
    expect(iso(daily.previous(at('2026-11-26T23:59:59.999Z')))).toBe('2026-11-26T00:00:00.000Z');
    expect(iso(daily.next(at('2026-12-31T23:59:00Z')))).toBe('2027-01-01T00:00:00.000Z');
  });

  it('reads weekdays (0 and 7 are Sunday), months, ranges, steps and lists', () => {
    const monday = parseCron('0 0 * * 1');
    expect(iso(monday.next(at('2026-11-26T12:00:00Z')))).toBe('2026-11-30T00:00:00.000Z');
    expect(iso(monday.previous(at('2026-11-26T12:00:00Z')))).toBe('2026-11-23T00:00:00.000Z');
    expect(parseCron('0 0 * * 7').next(at('2026-11-26T00:00:00Z'))).toBe(
      parseCron('0 0 * * 0').next(at('2026-11-26T00:00:00Z')),
    );
    const quarter = parseCron('*/15 * * * *');
    expect(iso(quarter.next(at('2026-11-26T12:07:30Z')))).toBe('2026-11-26T12:15:00.000Z');
    expect(iso(quarter.previous(at('2026-11-26T12:07:30Z')))).toBe('2026-11-26T12:00:00.000Z');
    const workdays = parseCron('30 9-17/4 * * 1-5');
    expect(iso(workdays.next(at('2026-11-27T17:31:00Z')))).toBe('2026-11-30T09:30:00.000Z'); // Fri -> Mon
    const months = parseCron('0 0 1 1,7 *');
    expect(iso(months.next(at('2026-02-01T00:00:00Z')))).toBe('2026-07-01T00:00:00.000Z');
    expect(iso(months.previous(at('2026-02-01T00:00:00Z')))).toBe('2026-01-01T00:00:00.000Z');
    expect(iso(parseCron('5/20 * * * *').next(at('2026-11-26T12:26:00Z')))).toBe(
      '2026-11-26T12:45:00.000Z',
    );
  });

  it('matches either day field when both are restricted, as Vixie cron does', () => {
    // The 13th, or any Friday.
    const either = parseCron('0 0 13 * 5');
    expect(iso(either.next(at('2026-11-26T00:00:00Z')))).toBe('2026-11-27T00:00:00.000Z'); // Friday
    expect(iso(either.next(at('2026-11-27T00:00:00Z')))).toBe('2026-12-04T00:00:00.000Z');
    expect(iso(either.next(at('2026-12-12T00:00:00Z')))).toBe('2026-12-13T00:00:00.000Z'); // Sunday the 13th
  });

  it('expands the macros', () => {
    const now = at('2026-11-26T12:34:00Z');
    expect(iso(parseCron('@daily').next(now))).toBe('2026-11-27T00:00:00.000Z');
    expect(iso(parseCron('@hourly').next(now))).toBe('2026-11-26T13:00:00.000Z');
    expect(iso(parseCron('@weekly').next(now))).toBe('2026-11-29T00:00:00.000Z');
    expect(iso(parseCron('@monthly').next(now))).toBe('2026-12-01T00:00:00.000Z');
    expect(iso(parseCron('@yearly').previous(now))).toBe('2026-01-01T00:00:00.000Z');
    expect(iso(parseCron('0 0 29 2 *').next(now))).toBe('2028-02-29T00:00:00.000Z');
  });

  it('reads what croner adds: names, the last day of the month', () => {
    const now = at('2026-11-26T12:34:00Z');
    expect(iso(parseCron('0 0 * * MON').next(now))).toBe('2026-11-30T00:00:00.000Z');
    expect(iso(parseCron('0 0 1 JAN *').previous(now))).toBe('2026-01-01T00:00:00.000Z');
    expect(iso(parseCron('0 0 L * *').next(now))).toBe('2026-11-30T00:00:00.000Z');
  });

  it('answers from its cached window and past it alike', () => {
    const hourly = parseCron('0 * * * *');
    for (let ms = at('2026-11-26T10:00:00Z'); ms < at('2026-11-26T13:00:00Z'); ms += 7 * 60_000) {
      const hourStart = Math.floor(ms / 3_600_000) * 3_600_000;
      expect([hourly.previous(ms), hourly.next(ms)]).toEqual([hourStart, hourStart + 3_600_000]);
    }
    expect(hourly.previous(at('2026-11-26T10:00:00Z'))).toBe(at('2026-11-26T10:00:00Z'));
    expect(hourly.previous(at('2026-11-26T09:59:59.999Z'))).toBe(at('2026-11-26T09:00:00Z'));
  });

  it.each([
    ['', /five/],
    ['* * * *', /five/],
    ['* * * * * *', /5 parts/],
    ['60 * * * *', /minute: 60/],
    ['* 24 * * *', /hour/],
    ['* * 0 * *', /day/],
    ['* * * 13 *', /month/],
    ['* * * * 8', /dayOfWeek/],
    ['5-1 * * * *', /larger/],
    ['*/0 * * * *', /stepping/],
    ['1,,2 * * * *', /minute/],
    ['L * * * *', /illegal/],
    ['0 0 30 2 *', /never fires/],
  ])('refuses %j', (expression, message) => {
    expect(() => parseCron(expression)).toThrow(CronError);
    expect(() => parseCron(expression)).toThrow(message);
  });
});
