import { Type } from '@fastify/type-provider-typebox';
import { Text } from '@redis-patterns/service-kit';

export const BoardConfigBody = Type.Object(
  {
    sort: Type.Union([Type.Literal('desc'), Type.Literal('asc')], {
      description: 'desc: higher is better; asc: lower is better (lap times)',
    }),
    operator: Type.Union(
      [
        Type.Literal('best'),
        Type.Literal('set'),
        Type.Literal('increment'),
        Type.Literal('decrement'),
      ],
      {
        description: 'best keeps the better score, set the last, increment/decrement add/subtract',
      },
    ),
    reset: Text({
      minLength: 1,
      maxLength: 100,
      description: 'A five-field cron expression in UTC (or @daily, @weekly, ...), or "none"',
    }),
    metadata: Type.Optional(
      Type.Object({}, { additionalProperties: true, description: 'Free JSON, at most 4 KiB' }),
    ),
    archiveTop: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000_000,
        description: 'Entries archived per ended period (default: all, up to the service bound)',
      }),
    ),
    subscore: Type.Optional(
      Type.Union([Type.Literal('desc'), Type.Literal('asc'), Type.Literal('none')], {
        description:
          'Order of an optional subscore (e.g. asc for time taken), compared after the score and before the arrival; none (default): no subscore',
      }),
    ),
    webhook: Type.Optional(
      Type.Object(
        {
          url: Text({
            minLength: 1,
            maxLength: 2048,
            description: 'http(s) URL that receives the final top N of each finished period',
          }),
          top: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1000, description: 'Entries sent (default 10)' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const WebhookView = Type.Object({ url: Type.String(), top: Type.Integer() });

export const BoardView = Type.Object({
  board: Type.String(),
  implicit: Type.Boolean(),
  scored: Type.Boolean(),
  sort: Type.String(),
  operator: Type.String(),
  reset: Type.Union([Type.String(), Type.Null()]),
  // Unknown, not a nullable object: fast-json-stringify cannot build anyOf with an open object here.
  metadata: Type.Unknown({ description: 'The metadata given, or null' }),
  archiveTop: Type.Union([Type.Integer(), Type.Null()]),
  subscore: Type.Union([Type.String(), Type.Null()]),
  webhook: Type.Union([WebhookView, Type.Null()]),
});
