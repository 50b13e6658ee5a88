import { Type, type Static } from '@sinclair/typebox';

export const Credentials = Type.Object(
  {
    username: Type.String({
      minLength: 3,
      maxLength: 32,
      pattern: '^[A-Za-z0-9_.-]+$',
      description: '3..32 of [a-z0-9_.-]; unique whatever the letter case',
    }),
    password: Type.String({ minLength: 8, maxLength: 128 }),
  },
  { additionalProperties: false },
);
export type Credentials = Static<typeof Credentials>;

export const User = Type.Object({
  id: Type.String({ description: 'User id (a bigint, as a string)' }),
  username: Type.String(),
});

export const LoginBody = Type.Object({ user: User });

const Timestamp = Type.String({ format: 'date-time' });

export const Me = Type.Object({
  user: User,
  session: Type.Object({
    id: Type.String({ description: 'Public id of this session (not the cookie value)' }),
    createdAt: Timestamp,
    lastSeenAt: Timestamp,
    expiresAt: Type.String({ format: 'date-time', description: 'Absolute end of the session' }),
  }),
});

export const SessionList = Type.Object({
  sessions: Type.Array(
    Type.Object({
      id: Type.String(),
      createdAt: Timestamp,
      lastSeenAt: Timestamp,
      expiresAt: Timestamp,
      ip: Type.String(),
      userAgent: Type.String(),
      requests: Type.Integer({ description: 'Requests served with this session' }),
      current: Type.Boolean(),
    }),
  ),
});

export const SessionParams = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{32}$' }),
});
export type SessionParams = Static<typeof SessionParams>;

export const Revoked = Type.Object({
  revoked: Type.Integer({ description: 'How many other sessions were revoked' }),
});
