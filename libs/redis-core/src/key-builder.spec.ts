import { createKeyBuilder } from './key-builder';

describe('createKeyBuilder', () => {
  const keys = createKeyBuilder('inv');

  it('joins the prefix and parts', () => {
    expect(keys.key('stock', 'sku1')).toBe('inv:stock:sku1');
  });

  it('puts the tag in braces so related keys share a Cluster slot', () => {
    expect(keys.tagged('sku1', 'lock')).toBe('inv:{sku1}:lock');
    expect(keys.child('a').tagged(7, 'x')).toBe('inv:a:{7}:x');
  });

  it('refuses parts that would break the key or its hash tag', () => {
    expect(() => keys.key('a b')).toThrow(/without spaces or braces/);
    expect(() => keys.tagged('{x}')).toThrow();
    expect(() => keys.key('')).toThrow();
    expect(() => createKeyBuilder('')).toThrow();
  });
});
