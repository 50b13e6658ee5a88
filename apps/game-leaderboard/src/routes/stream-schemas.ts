import { Type } from '@fastify/type-provider-typebox';

export const TopEvents = Type.String({
  description: 'text/event-stream of `top` events {entries}',
});
