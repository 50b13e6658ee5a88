/** Majority of `n` independent masters: any two quorums share at least one master. */
export function quorumSize(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`need at least one master, got ${n}`);
  return Math.floor(n / 2) + 1;
}

/** Raised when too many masters failed for a quorum to answer. */
export class QuorumError extends Error {
  constructor(
    readonly errors: unknown[],
    readonly needed: number,
    readonly total: number,
  ) {
    super(
      `quorum not reached: ${errors.length} of ${total} masters failed, ${needed} answers needed`,
    );
    this.name = 'QuorumError';
  }
}

/**
 * Resolves with the first `needed` answers as soon as they are in (a paused master does not slow
 * the quorum down), or rejects with a QuorumError as soon as `needed` can no longer be reached.
 */
export function firstQuorum<T>(calls: Array<Promise<T>>, needed: number): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const values: T[] = [];
    const errors: unknown[] = [];
    let settled = false;
    for (const call of calls) {
      call.then(
        (value) => {
          if (settled) return;
          values.push(value);
          if (values.length === needed) {
            settled = true;
            resolve(values);
          }
        },
        (error: unknown) => {
          if (settled) return;
          errors.push(error);
          if (calls.length - errors.length < needed) {
            settled = true;
            reject(new QuorumError(errors, needed, calls.length));
          }
        },
      );
    }
    if (calls.length < needed) {
      settled = true;
      reject(new QuorumError([], needed, calls.length));
    }
  });
}
