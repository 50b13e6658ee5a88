import { keySlot } from '@redis-patterns/testkit';
import { lockKeys } from './lock-keys';

describe('lock keys', () => {
  const keys = lockKeys('inv');

  it('tags the lock and the fence of one sku with the sku: one Cluster slot', () => {
    expect(keys.lock('sku-1')).toBe('inv:{sku-1}:lock');
    expect(keys.fence('sku-1')).toBe('inv:{sku-1}:fence');
    expect(keySlot(keys.lock('sku-1'))).toBe(keySlot(keys.fence('sku-1')));
  });

  it('gives every readiness probe its own key, apart from every sku key', () => {
    expect(keys.readyProbe('a1b2c3', 7)).toBe('inv:ready-probe:a1b2c3:7');
    expect(keys.readyProbe('a1b2c3', 8)).not.toBe(keys.readyProbe('a1b2c3', 7));
    expect(keys.readyProbe('a1b2c3', 7)).not.toContain('{');
  });

  it('refuses a resource that would break the hash tag', () => {
    expect(() => keys.lock('a}b')).toThrow();
    expect(() => keys.fence('a b')).toThrow();
  });
});
