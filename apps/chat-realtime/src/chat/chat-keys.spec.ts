import { createChatKeys } from './chat-keys';

describe('createChatKeys', () => {
  const keys = createChatKeys('chat');

  it('tags every key of a room with the room, so one script may touch them on a Cluster', () => {
    expect(keys.messages('general')).toBe('chat:{general}:messages');
    expect(keys.presence('general')).toBe('chat:{general}:presence');
    expect(keys.reads('general')).toBe('chat:{general}:reads');
    expect(keys.delivered('general')).toBe('chat:{general}:delivered');
    expect(keys.sent('general', 'user:7', 'c1')).toBe('chat:{general}:sent:user%3A7:c1');
  });

  it('tags the per-user limits by user, in a tag no room name can take', () => {
    expect(keys.userRate('user:7')).toBe('chat:{user%3A7}:user:rate');
    expect(keys.userRooms('guest:ab')).toBe('chat:{guest%3Aab}:user:rooms');
    expect(keys.userMemberships('user:7')).toBe('chat:{user%3A7}:user:memberships');
  });

  it('escapes user ids that would break a key', () => {
    expect(keys.sent('r', 'guest:a b{c}', 'x')).toBe('chat:{r}:sent:guest%3Aa%20b%7Bc%7D:x');
  });

  it('keeps the probe channel outside the pattern the adapter subscribes to', () => {
    expect(keys.adapterChannel).toBe('chat:sio');
    expect(keys.probeChannel('r1')).toBe('chat:sio-probe#r1');
    // The adapter listens on `<adapterChannel>#/#*`.
    expect(keys.probeChannel('r1').startsWith(`${keys.adapterChannel}#`)).toBe(false);
  });
});
