import { loadConfig } from '@redis-patterns/service-kit';
import { configFromEnv, defaultChatConfig, envSchema } from './config';

describe('chat-realtime config', () => {
  it('defaults to the documented values', () => {
    const config = configFromEnv(loadConfig(envSchema, {}));
    expect(config.chat).toEqual(defaultChatConfig);
    expect(config.chat).toMatchObject({
      transports: ['websocket'],
      historyLimit: 50,
      rateLimitMax: 10,
      presenceTtlMs: 15000,
    });
    expect(config.database).toBeUndefined();
    expect(config.keyPrefix).toBe('chat');
    // Production configs never set it: guests stay off.
    expect(config.chat.allowGuests).toBe(false);
  });

  it('reads the allowed origins and trusted proxies, naming a bad one', () => {
    const config = configFromEnv(
      loadConfig(envSchema, { ALLOWED_ORIGINS: 'https://chat.example', TRUST_PROXY: 'loopback' }),
    );
    expect(config.chat.allowedOrigins).toEqual(['https://chat.example']);
    expect(config.chat.trustProxy).toEqual(['loopback']);
    expect(() => configFromEnv(loadConfig(envSchema, { ALLOWED_ORIGINS: 'x' }))).toThrow(
      /ALLOWED_ORIGINS/,
    );
    expect(() => configFromEnv(loadConfig(envSchema, { TRUST_PROXY: 'a b' }))).toThrow(
      /TRUST_PROXY/,
    );
  });

  it('reads transports, guests and the auth URL', () => {
    const config = configFromEnv(
      loadConfig(envSchema, {
        CHAT_TRANSPORTS: 'websocket,polling',
        CHAT_ALLOW_GUESTS: 'false',
        AUTH_URL: 'http://auth:3002/',
      }),
    );
    expect(config.chat.transports).toEqual(['websocket', 'polling']);
    expect(config.chat.allowGuests).toBe(false);
    expect(config.chat.authUrl).toBe('http://auth:3002');
  });

  it('names the variable that is wrong', () => {
    expect(() => loadConfig(envSchema, { CHAT_TRANSPORTS: 'smoke' })).toThrow(/CHAT_TRANSPORTS/);
    expect(() => loadConfig(envSchema, { AUTH_URL: 'auth:3002' })).toThrow(/AUTH_URL/);
    expect(() =>
      configFromEnv(
        loadConfig(envSchema, { CHAT_PRESENCE_HEARTBEAT_MS: '5000', CHAT_PRESENCE_TTL_MS: '6000' }),
      ),
    ).toThrow(/CHAT_PRESENCE_TTL_MS/);
  });
});
