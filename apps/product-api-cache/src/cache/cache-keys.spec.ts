import { cacheKeys, categoryGroup, hashTag, productGroup } from './cache-keys';

describe('cache keys', () => {
  const keys = cacheKeys('cache');

  it('names the groups and their hash tags', () => {
    expect(productGroup(42)).toBe('p-42');
    expect(categoryGroup('books')).toBe('c-books');
    expect(hashTag(productGroup(42))).toBe('{p-42}');
  });

  it('builds the keys of a product entry on the hash tag of its group', () => {
    expect(keys.product(42)).toEqual({
      group: 'p-42',
      entry: 'cache:{p-42}:e:v',
      lease: 'cache:{p-42}:e:v:lease',
      index: 'cache:{p-42}:index',
    });
  });

  it('builds the keys of a list page on the hash tag of its category', () => {
    expect(keys.page('books', 20, 0)).toEqual({
      group: 'c-books',
      entry: 'cache:{c-books}:e:page:20:0',
      lease: 'cache:{c-books}:e:page:20:0:lease',
      index: 'cache:{c-books}:index',
    });
    expect(keys.entry('c-books', 'page', 5, 17).entry).toBe('cache:{c-books}:e:page:5:17');
    expect(keys.lease('cache:{p-1}:e:v')).toBe('cache:{p-1}:e:v:lease');
  });

  it('puts every key of the eviction registry on one hash tag', () => {
    expect(keys.evictionChannel).toBe('cache:evictions');
    expect(keys.ackChannel).toBe('cache:evictions:ack');
    expect(keys.members).toBe('cache:{evictions}:members');
    expect(keys.seq).toBe('cache:{evictions}:seq');
    expect(keys.acks('abc')).toBe('cache:{evictions}:ack:abc');
  });

  it('finds index sets by pattern and reads their group back', () => {
    expect(keys.everyIndex).toBe('cache:{*}:index');
    expect(cacheKeys('a*b?[c]').everyIndex).toBe('a\\*b\\?\\[c\\]:{*}:index');
    expect(keys.groupOfIndex(keys.index('p-7'))).toBe('p-7');
    expect(keys.groupOfIndex(keys.index('c-toys'))).toBe('c-toys');
    expect(keys.groupOfIndex('cache:no-tag')).toBeNull();
  });

  it('refuses key parts that would break a hash tag', () => {
    expect(() => keys.page('a b', 1, 0)).toThrow(/key part/);
    expect(() => keys.index('{x}')).toThrow(/key part/);
  });
});
