import { createKeyBuilder, type KeyBuilder } from '@redis-patterns/redis-core';
import type { Algorithm, Policy } from './rate-limit-policy';

/** Every rate-limit key of the gateway lives under `<KEY_PREFIX>:rl:`. */
export function rateLimitKeyBuilder(keyPrefix: string): KeyBuilder {
  return createKeyBuilder(keyPrefix).child('rl');
}

const SHORT: Record<Algorithm, string> = {
  'fixed-window': 'fw',
  'sliding-window': 'sw',
  gcra: 'gcra',
  concurrency: 'conc',
};

/**
 * The counter of each limit of `policy` for one request, `subjects[i]` being who limit i counts
 * (`ip:1.2.3.4`, `key:<consumer>`, `user:<hash>`). All keys of one decision share a hash tag so
 * that one script call decides them together on a Cluster: `{policy:subject}` when every limit
 * counts the same subject (counters spread over all slots), else `{policy}` (that policy's
 * counters all sit on one slot: used for the login guard, whose traffic is small).
 */
export function limitKeys(keys: KeyBuilder, policy: Policy, subjects: readonly string[]): string[] {
  const shared = subjects.every((subject) => subject === subjects[0]);
  return policy.limits.map((limit, i) => {
    const kind = `${i}${SHORT[limit.algorithm]}`;
    return shared
      ? keys.tagged(`${policy.name}:${subjects[0]}`, kind)
      : keys.tagged(policy.name, kind, subjects[i]);
  });
}

/**
 * The breaker's probe counter: one fixed-window key of its own (under a limit it never reaches),
 * so that probing Redis never touches a client's counter.
 */
export function breakerProbeKey(keys: KeyBuilder): string {
  return keys.tagged('breaker-probe', 'fw');
}
