import { presenceMember, usersOf } from './presence';

describe('presence entries', () => {
  it('collapses tabs and replicas of one user into one user', () => {
    const ada = { id: 'user:1', username: 'Ada' };
    const bob = { id: 'guest:x', username: 'bob | the | builder' };
    const members = [
      presenceMember('r1', bob),
      presenceMember('r1', ada),
      presenceMember('r2', ada),
    ];
    expect(usersOf(members)).toEqual([ada, bob]);
  });

  it('ignores malformed entries', () => {
    expect(usersOf(['nonsense', 'r1|only'])).toEqual([]);
  });
});
