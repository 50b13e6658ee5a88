import { Type, type Static } from '@sinclair/typebox';
import { Text } from '@redis-patterns/service-kit';

export const Credentials = Type.Object(
  {
    username: Type.String({
      minLength: 3,
      maxLength: 32,
      pattern: '^[A-Za-z0-9_.-]+$',
      description: '3..32 of [a-z0-9_.-]; unique whatever the letter case',
    }),
    // No control characters: scrypt keys HMAC with the password, which pads it with zero
    // bytes, so "secret\u0000" would be the same password as "secret" (found by the hostile suite).
    password: Text({ minLength: 8, maxLength: 128 }),
  },
  { additionalProperties: false },
);
export type Credentials = Static<typeof Credentials>;

export const LoginRequest = Type.Object(
  {
    ...Credentials.properties,
    token: Type.Optional(
      Type.Boolean({
        description:
          'true: answer with a bearer token (for `Authorization: Bearer`) instead of setting a cookie',
      }),
    ),
  },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequest>;

export const User = Type.Object({
  id: Type.String({ description: 'User id (a bigint, as a string)' }),
  username: Type.String(),
});

export const LoginBody = Type.Object({
  user: User,
  expiresAt: Type.String({
    format: 'date-time',
    description: 'Absolute end of the session, however much it is used',
  }),
  token: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_-]{32}$',
      description:
        'Only when asked for: the session as a bearer token, `Authorization: Bearer <token>`; same lifetimes and revocation as a cookie session',
    }),
  ),
});

export const Timestamp = Type.String({ format: 'date-time' });

export const Me = Type.Object({
  user: User,
  session: Type.Object({
    id: Type.String({ description: 'Public id of this session (not the cookie value)' }),
    createdAt: Timestamp,
    lastSeenAt: Timestamp,
    expiresAt: Type.String({ format: 'date-time', description: 'Absolute end of the session' }),
  }),
});
