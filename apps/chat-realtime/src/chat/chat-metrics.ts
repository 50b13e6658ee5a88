import type { ServiceInstance } from '@redis-patterns/service-kit';

const DELIVERY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** chat-realtime's own metrics (besides service-kit's). */
export function createChatMetrics(app: ServiceInstance) {
  return {
    connected: app.prom.gauge({
      name: 'chat_connected_sockets',
      help: 'Sockets connected to this replica',
    }),
    messages: app.prom.counter({
      name: 'chat_messages_total',
      help: 'Message sends by result: stored, duplicate, rate_limited, invalid, unavailable, error',
      labelNames: ['result'],
    }),
    refused: app.prom.counter({
      name: 'chat_refused_total',
      help: 'Requests refused by a limit: typing (rate), rooms_per_socket, rooms_per_user',
      labelNames: ['limit'],
    }),
    dropped: app.prom.counter({
      name: 'chat_adapter_publishes_dropped_total',
      help: 'Broadcasts not published to other replicas: the adapter client held its most pending commands',
    }),
    delivery: app.prom.histogram({
      name: 'chat_delivery_seconds',
      help: 'From storing a message to handing it to a socket on another replica',
      buckets: DELIVERY_BUCKETS,
    }),
  };
}

export type ChatMetrics = ReturnType<typeof createChatMetrics>;
