import { InvalidPathError, normalizePath, splitTarget } from './path-normalization';

describe('normalizePath', () => {
  it.each([
    ['/api/auth/%6cogin', '/api/auth/login'],
    ['/api/%61uth/login', '/api/auth/login'],
    ['/api/auth/./login', '/api/auth/login'],
    ['/api/auth/x/../login', '/api/auth/login'],
    ['/api/auth/%2e/login', '/api/auth/login'],
    ['/api/auth/%2E%2E/auth/login', '/api/auth/login'],
    ['/api//auth///login', '/api/auth/login'],
    ['/api/auth/login/.', '/api/auth/login/'],
    ['/../../etc', '/etc'],
    ['/a/%2f/b', '/a/%2F/b'],
    ['/a/%7E%41', '/a/~A'],
    ['/', '/'],
  ])('%s is %s', (raw, normalized) => {
    expect(normalizePath(raw)).toBe(normalized);
  });

  it('refuses broken encodings, NUL and relative paths', () => {
    expect(() => normalizePath('/a/%zz')).toThrow(InvalidPathError);
    expect(() => normalizePath('/a/%4')).toThrow(InvalidPathError);
    expect(() => normalizePath('/a/%00')).toThrow(InvalidPathError);
    expect(() => normalizePath('a/b')).toThrow(InvalidPathError);
  });
});

describe('splitTarget', () => {
  it('keeps the query as it was sent', () => {
    expect(splitTarget('/a/b?x=%41&y')).toEqual({ path: '/a/b', query: '?x=%41&y' });
    expect(splitTarget('/a')).toEqual({ path: '/a', query: '' });
  });
});
