import { parseUpstreamList, UpstreamPool } from './upstream-pool';

describe('parseUpstreamList', () => {
  it('reads a comma list of origins', () => {
    expect(parseUpstreamList('http://a:1, https://b:2/')).toEqual(['http://a:1', 'https://b:2']);
  });

  it('refuses paths, other schemes and empty lists', () => {
    expect(() => parseUpstreamList('http://a:1/x')).toThrow(/without a path/);
    expect(() => parseUpstreamList('ftp://a')).toThrow();
    expect(() => parseUpstreamList('nope')).toThrow(/http/);
    expect(() => parseUpstreamList(' , ')).toThrow(/at least one/);
  });
});

describe('UpstreamPool', () => {
  it('rotates round-robin', () => {
    const pool = new UpstreamPool('p', ['a', 'b', 'c']);
    expect([pool.pick(), pool.pick(), pool.pick(), pool.pick()]).toEqual(['a', 'b', 'c', 'a']);
  });

  it('skips a replica that refused until its cooldown ends', () => {
    let time = 0;
    const pool = new UpstreamPool('p', ['a', 'b'], 1000, () => time);
    pool.markDown('a');
    expect([pool.pick(), pool.pick(), pool.pick()]).toEqual(['b', 'b', 'b']);
    time = 1001;
    expect([pool.pick(), pool.pick()]).toEqual(['a', 'b']);
  });

  it('still answers when every replica is down, and honours exclusions', () => {
    const pool = new UpstreamPool('p', ['a', 'b'], 1000, () => 0);
    pool.markDown('a');
    pool.markDown('b');
    expect(['a', 'b']).toContain(pool.pick());
    const fresh = new UpstreamPool('q', ['a', 'b']);
    expect(fresh.pick(new Set(['a']))).toBe('b');
    // Cooling down is a preference, exclusion is not: a retry never goes back to a tried one.
    expect(pool.pick(new Set(['b']))).toBe('a');
    expect(pool.pick(new Set(['a']))).toBe('b');
  });
});
