export * from './redis-config';
export * from './create-redis';
export * from './lua-script';
export * from './key-builder';
export * from './replica-ack';
export { default as redisPlugin, type RedisPluginOptions } from './redis-plugin';
