import { serviceNameOf, startTracing, stopTracing } from './tracing';

describe('tracing', () => {
  it('is off without OTEL_EXPORTER_OTLP_ENDPOINT, and stopping it then is a no-op', async () => {
    expect(startTracing({})).toBe(false);
    await expect(stopTracing()).resolves.toBeUndefined();
  });

  it('names the service after OTEL_SERVICE_NAME, else the app directory of the entry point', () => {
    expect(serviceNameOf({ OTEL_SERVICE_NAME: 'checkout' }, '/app/apps/x/dist/server.js')).toBe(
      'checkout',
    );
    expect(serviceNameOf({}, '/app/apps/game-leaderboard/dist/server.js')).toBe('game-leaderboard');
    expect(serviceNameOf({}, '/srv/tool/main.js')).toBe('tool');
  });
});
