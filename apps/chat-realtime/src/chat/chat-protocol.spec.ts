import { parseDisplayName, parseJoin, parseRoomRequest, parseSend } from './chat-protocol';

describe('chat protocol validation', () => {
  it('accepts room names of 1..64 [a-z0-9_-] only', () => {
    expect(parseRoomRequest({ room: 'general_1-a' })).toEqual({ room: 'general_1-a' });
    expect(parseRoomRequest({ room: 'a'.repeat(64) })).toEqual({ room: 'a'.repeat(64) });
    for (const room of ['', 'a'.repeat(65), 'General', 'a b', 'a{b}', 'é', 7, null]) {
      expect(parseRoomRequest({ room })).toEqual({
        error: expect.objectContaining({ code: 'INVALID_ROOM' }),
      });
    }
    expect(parseRoomRequest('general')).toEqual({
      error: expect.objectContaining({ code: 'INVALID_PAYLOAD' }),
    });
  });

  it('takes an optional lastSeenId that must be a stream id', () => {
    expect(parseJoin({ room: 'r' })).toEqual({ room: 'r' });
    expect(parseJoin({ room: 'r', lastSeenId: '17-0' })).toEqual({ room: 'r', lastSeenId: '17-0' });
    expect(parseJoin({ room: 'r', lastSeenId: '+' })).toEqual({
      error: expect.objectContaining({ code: 'INVALID_LAST_SEEN_ID' }),
    });
  });

  it('checks text length and clientMsgId', () => {
    const ok = { room: 'r', text: 'hi', clientMsgId: 'c-1' };
    expect(parseSend(ok)).toEqual(ok);
    expect(parseSend({ ...ok, text: 'x'.repeat(2000) })).toEqual({ ...ok, text: 'x'.repeat(2000) });
    expect(parseSend({ ...ok, text: 'two\nlines\tand a tab\r\n' })).toMatchObject({ room: 'r' });
    for (const text of ['', '   ', 'x'.repeat(2001), 5, 'a\u0000b', 'a\u001bb', 'a\u007fb']) {
      expect(parseSend({ ...ok, text })).toEqual({
        error: expect.objectContaining({ code: 'INVALID_TEXT' }),
      });
    }
    for (const clientMsgId of ['', 'a b', 'x'.repeat(65), undefined]) {
      expect(parseSend({ ...ok, clientMsgId })).toEqual({
        error: expect.objectContaining({ code: 'INVALID_CLIENT_MSG_ID' }),
      });
    }
  });

  it('trims display names and refuses empty, long or control characters', () => {
    expect(parseDisplayName('  Ada ')).toBe('Ada');
    expect(parseDisplayName('')).toBeUndefined();
    expect(parseDisplayName('x'.repeat(33))).toBeUndefined();
    expect(parseDisplayName('a\nb')).toBeUndefined();
    expect(parseDisplayName(42)).toBeUndefined();
  });
});
