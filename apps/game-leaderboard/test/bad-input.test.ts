import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import {} from '../src/leaderboard/seed-board';
import {
  type Reply,
  keysMatching,
  leaderboardFixture,
  sharedPostgres,
} from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard bad input on %s, 2 replicas', (kind) => {
  const { lb, url } = leaderboardFixture(kind, { postgres });

  it('rejects bad input with 400 naming the field and writes nothing', async () => {
    const keyCount = async () => (await keysMatching(lb().client, lb().keys.everyKey)).length;
    const keysBefore = await keyCount();
    const namesBefore = await lb().client.hlen(lb().keys.names);
    const badSubmissions: Array<[string, unknown, RegExp]> = [
      ['/leaderboards/bad/scores', '{"playerId":"a","score":NaN}', /JSON/i],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":Infinity}', /JSON/i],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":1e400}', /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 1.5 }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 2 ** 53 }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: -(2 ** 53) }, /score/],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":9007199254740993}', /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: '12' }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: true }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a' }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 1, mode: 'max' }, /mode/],
      ['/leaderboards/bad/scores', { playerId: 'a b', score: 1 }, /playerId/],
      ['/leaderboards/bad/scores', { playerId: 'x'.repeat(65), score: 1 }, /playerId/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 1, extra: 1 }, /extra|additional/],
      ['/leaderboards/Bad/scores', { playerId: 'a', score: 1 }, /board/],
      ['/leaderboards/a.b/scores', { playerId: 'a', score: 1 }, /board/],
      [`/leaderboards/${'b'.repeat(65)}/scores`, { playerId: 'a', score: 1 }, /board/],
      ['/leaderboards/bad/ranks', { playerIds: [] }, /playerIds/],
      [
        '/leaderboards/bad/ranks',
        { playerIds: Array.from({ length: 101 }, (_, i) => `p${i}`) },
        /playerIds/,
      ],
    ];
    for (const [path, body, message] of badSubmissions) {
      const answer = await httpCall<Reply>(url(0), 'POST', path, { body });
      expect([path, body, answer.status]).toEqual([path, body, 400]);
      expect(answer.body.message).toMatch(message);
    }
    for (const [path, message] of [
      ['/leaderboards/bad/top?limit=0', /limit/],
      ['/leaderboards/bad/top?limit=1000', /limit/],
      ['/leaderboards/bad/top?offset=-1', /offset/],
      ['/leaderboards/bad/top?period=yearly', /period/],
      ['/leaderboards/bad/players/a/around?radius=51', /radius/],
      ['/leaderboards/bad/players/a%20b', /playerId/],
    ] as const) {
      const answer = await httpCall<Reply>(url(1), 'GET', path);
      expect([path, answer.status]).toEqual([path, 400]);
      expect(answer.body.message).toMatch(message);
    }
    for (const name of [
      '',
      '   ',
      'tab\there',
      'esc\u001b[31m',
      'del\u007f',
      'nul\u0000',
      'c1\u009b',
      'n'.repeat(65),
    ]) {
      const answer = await httpCall<Reply>(url(1), 'PUT', '/players/a', { body: { name } });
      expect([name, answer.status]).toEqual([name, 400]);
    }
    expect(await keyCount()).toBe(keysBefore);
    expect(await lb().client.hlen(lb().keys.names)).toBe(namesBefore);
  });
});
