import {
  activeIndexSlackMs,
  isSessionId,
  publicSessionId,
  sessionRecordFromFields,
} from './session-record';

describe('session records', () => {
  it('parses HGETALL fields', () => {
    const record = sessionRecordFromFields([
      'userId',
      '7',
      'username',
      'alice',
      'createdAt',
      '1000',
      'lastSeenAt',
      '2000',
      'expiresAt',
      '9000',
      'ip',
      '10.0.0.1',
      'userAgent',
      'curl',
      'requests',
      '3',
    ]);
    expect(record).toEqual({
      userId: '7',
      username: 'alice',
      createdAt: 1000,
      lastSeenAt: 2000,
      expiresAt: 9000,
      ip: '10.0.0.1',
      userAgent: 'curl',
      requests: 3,
    });
  });

  it('refuses a record without its identity or times', () => {
    expect(sessionRecordFromFields(['userId', '7'])).toBeUndefined();
    expect(
      sessionRecordFromFields([
        'userId',
        '7',
        'username',
        'a',
        'createdAt',
        'x',
        'lastSeenAt',
        '1',
        'expiresAt',
        '2',
      ]),
    ).toBeUndefined();
  });

  it('accepts only ids shaped like the ones logins issue', () => {
    expect(isSessionId('A'.repeat(31) + '_')).toBe(true);
    expect(isSessionId('short')).toBe(false);
    expect(isSessionId('{tag}'.padEnd(32, 'a'))).toBe(false);
  });

  it('shows a stable hash instead of the bearer id', () => {
    const id = 'a'.repeat(32);
    expect(publicSessionId(id)).toMatch(/^[0-9a-f]{32}$/);
    expect(publicSessionId(id)).toBe(publicSessionId(id));
    expect(publicSessionId(id)).not.toContain(id);
  });

  it('bounds the gauge lag to a tenth of the idle time, at most a minute', () => {
    expect(activeIndexSlackMs(1_800_000)).toBe(60_000);
    expect(activeIndexSlackMs(2_000)).toBe(200);
  });
});
