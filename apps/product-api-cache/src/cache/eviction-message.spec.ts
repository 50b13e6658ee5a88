import {
  ackPayload,
  evictionPayload,
  inGroups,
  memberId,
  parseAck,
  parseChannelMessage,
  pingPayload,
  replicaOf,
} from './eviction-message';

describe('eviction channel messages', () => {
  it('reads a numbered eviction and a numbered ping', () => {
    expect(parseChannelMessage(`12|${evictionPayload('a1', 'r1.3', ['p-1', 'c-books'])}`)).toEqual({
      kind: 'eviction',
      seq: 12,
      id: 'a1',
      from: 'r1.3',
      groups: ['p-1', 'c-books'],
    });
    expect(parseChannelMessage(`13|${pingPayload('r1.3', 'n1')}`)).toEqual({
      kind: 'ping',
      seq: 13,
      member: 'r1.3',
      nonce: 'n1',
    });
  });

  it('turns anything else into "unreadable", and a missing number into seq null (a gap)', () => {
    expect(parseChannelMessage('7|{"id":"a2","from":"r","groups":[1]}')).toEqual({
      kind: 'unreadable',
      seq: 7,
    });
    expect(parseChannelMessage('not json')).toEqual({ kind: 'unreadable', seq: null });
    expect(parseChannelMessage('{"id":"a3","from":"r","groups":[]}')).toMatchObject({
      kind: 'eviction',
      seq: null,
    });
    expect(parseChannelMessage('x|{}')).toEqual({ kind: 'unreadable', seq: null });
  });

  it('reads acknowledgements and refuses malformed ones', () => {
    expect(parseAck(ackPayload({ id: 'a1', member: 'r2.1' }))).toEqual({
      id: 'a1',
      member: 'r2.1',
    });
    expect(parseAck('a1')).toBeNull();
    expect(parseAck('{"id":"a1"}')).toBeNull();
  });

  it('numbers the incarnations of a replica', () => {
    expect(memberId('abc-_1', 4)).toBe('abc-_1.4');
    expect(replicaOf('abc-_1.4')).toBe('abc-_1');
  });

  it('matches keys by their hash tag, not by prefix', () => {
    expect(inGroups('c:{p-1}:e:v', ['p-1'])).toBe(true);
    expect(inGroups('c:{p-12}:e:v', ['p-1'])).toBe(false);
  });
});
