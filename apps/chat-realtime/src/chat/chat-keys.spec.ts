import { createChatKeys } from './chat-keys';

describe('createChatKeys', () => {
  const keys = createChatKeys('chat');

  it('tags every key of a room with the room, so one script may touch them on a Cluster', () => {
    expect(keys.messages('general')).toBe('chat:{general}:messages');
    expect(keys.presence('general')).toBe('chat:{general}:presence');
    expect(keys.sent('general', 'user:7', 'c1')).toBe('chat:{general}:sent:user%3A7:c1');
  });

  it('escapes user ids that would break a key', () => {
    expect(keys.sent('r', 'guest:a b{c}', 'x')).toBe('chat:{r}:sent:guest%3Aa%20b%7Bc%7D:x');
  });
});
