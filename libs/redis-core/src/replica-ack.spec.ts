import { ReplyError } from 'ioredis';
import { isRedisUnavailable, ReplicaAckError } from './replica-ack';

describe('isRedisUnavailable', () => {
  const reply = (message: string) => new ReplyError(message);
  const withCode = (code: string) =>
    Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });

  it.each([
    ['a command timeout', new Error('Command timed out')],
    ['a closed connection', new Error('Connection is closed.')],
    [
      'no offline queue',
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    ],
    ['a refused connection', withCode('ECONNREFUSED')],
    ['a demoted master', reply("READONLY You can't write against a read only replica.")],
    ['a Cluster failover', reply('CLUSTERDOWN The cluster is down')],
    [
      'a WAIT whose master was demoted',
      reply(
        'UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)',
      ),
    ],
    ['a busy script', reply('BUSY Redis is busy running a script.')],
    ['a write not replicated', new ReplicaAckError(0, 1, 400)],
  ])('is true for %s', (_, error) => {
    expect(isRedisUnavailable(error)).toBe(true);
  });

  it.each([
    [
      'a wrong key type',
      reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
    ],
    ['a script error', reply('ERR user_script:1: Script attempted to access nonexistent global')],
    ['a bug in the caller', new TypeError("Cannot read properties of undefined (reading 'call')")],
    ['not an error', 'Command timed out'],
  ])('is false for %s', (_, error) => {
    expect(isRedisUnavailable(error)).toBe(false);
  });
});
