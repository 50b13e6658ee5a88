import { resolveRoute } from './route-map';

describe('resolveRoute', () => {
  it.each([
    ['/api/products/7', 'products', '/products/7'],
    ['/api/products', 'products', '/products'],
    ['/api/auth/login', 'auth', '/auth/login'],
    ['/chat', 'chat', '/'],
    ['/chat/app.js', 'chat', '/app.js'],
    ['/socket.io/', 'chat', '/socket.io/'],
  ])('%s goes to %s as %s', (path, upstream, upstreamPath) => {
    expect(resolveRoute(path)).toMatchObject({ route: { upstream }, upstreamPath });
  });

  it('has no route for unknown prefixes or an upstream operator path', () => {
    expect(resolveRoute('/api/productsx')).toBeUndefined();
    expect(resolveRoute('/nope')).toBeUndefined();
    for (const path of ['/chat/metrics', '/chat/docs', '/chat/docs/json', '/chat/health/ready']) {
      expect(resolveRoute(path)).toBeUndefined();
    }
  });
});
