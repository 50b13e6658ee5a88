import { firstQuorum, quorumSize, QuorumError } from './quorum';

const later = <T>(ms: number, value: T) =>
  new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
const failLater = (ms: number) =>
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error('down')), ms));
const never = () => new Promise<never>(() => {});

describe('quorumSize', () => {
  it('is a strict majority', () => {
    expect([1, 2, 3, 4, 5].map(quorumSize)).toEqual([1, 2, 2, 3, 3]);
    expect(() => quorumSize(0)).toThrow();
  });
});

describe('firstQuorum', () => {
  it('resolves with the first answers without waiting for a stalled master', async () => {
    await expect(firstQuorum([later(5, 1), never(), later(1, 2)], 2)).resolves.toEqual([2, 1]);
  });

  it('rejects as soon as the quorum cannot be reached any more', async () => {
    const outcome = firstQuorum([failLater(1), never(), failLater(2)], 2);
    await expect(outcome).rejects.toBeInstanceOf(QuorumError);
    await expect(outcome).rejects.toThrow(/2 of 3 masters failed/);
  });

  it('tolerates a minority of failures', async () => {
    await expect(firstQuorum([failLater(1), later(3, 'a'), later(2, 'b')], 2)).resolves.toEqual([
      'b',
      'a',
    ]);
  });
});
