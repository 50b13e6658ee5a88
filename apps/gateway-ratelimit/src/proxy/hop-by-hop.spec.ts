import { forwardableRequestHeaders, forwardableResponseHeaders } from './hop-by-hop';

describe('forwardableRequestHeaders', () => {
  it('drops hop-by-hop fields, those Connection names, Expect, Host and Content-Length', () => {
    expect(
      forwardableRequestHeaders({
        connection: 'keep-alive, X-Secret-Hop, Upgrade',
        'keep-alive': 'timeout=5',
        'x-secret-hop': '1',
        upgrade: 'h2c',
        'http2-settings': 'AAA',
        te: 'trailers',
        expect: '100-continue',
        host: 'gw',
        'content-length': '12',
        'transfer-encoding': 'chunked',
        'proxy-authorization': 'Basic x',
        cookie: 'a=1',
        'content-type': 'application/json',
      }),
    ).toEqual({ cookie: 'a=1', 'content-type': 'application/json' });
  });
});

describe('forwardableResponseHeaders', () => {
  it('keeps Set-Cookie lists and Content-Length, drops Transfer-Encoding and Connection', () => {
    expect(
      forwardableResponseHeaders({
        'set-cookie': ['a=1', 'b=2'],
        'content-length': '3',
        'transfer-encoding': 'chunked',
        connection: 'close',
        'keep-alive': 'timeout=5',
      }),
    ).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-length': '3' });
  });
});
