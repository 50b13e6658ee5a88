import { Type, type Static } from '@sinclair/typebox';
import { Timestamp } from './auth-schemas';

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
  id: Type.String({ minLength: 32, maxLength: 32, pattern: '^[0-9a-f]{32}$' }),
});
export type SessionParams = Static<typeof SessionParams>;

export const Revoked = Type.Object({
  revoked: Type.Integer({ description: 'How many other sessions were revoked' }),
});
