import { randomBytes } from 'node:crypto';
import type { ChatUser } from './chat-protocol';
import { MAX_NAME_LENGTH, parseDisplayName } from './chat-protocol';

export type IdentityErrorCode = 'UNAUTHENTICATED' | 'AUTH_UNAVAILABLE' | 'INVALID_NAME';

/** Why a handshake (or an HTTP read) was refused; `message` is shown to the user as is. */
export class IdentityError extends Error {
  constructor(
    readonly code: IdentityErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

export interface IdentityOptions {
  authUrl: string;
  authTimeoutMs: number;
  allowGuests: boolean;
}

export interface IdentityRequest {
  /** The Cookie header of the handshake, forwarded as is to auth-session. */
  cookie?: string;
  /** A guest's display name (`auth.name` of the Socket.IO handshake). */
  guestName?: unknown;
  /** A guest's stable id chosen by the browser, so its tabs count as one user. */
  guestId?: unknown;
}

const GUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** What every guest's display name ends with. */
export const GUEST_SUFFIX = ' (guest)';

interface MeBody {
  user?: { id?: unknown; username?: unknown };
}

/**
 * Resolves who connects. A Cookie header is checked by auth-session (`GET /auth/me`), the only
 * owner of the session format and secrets; 200 makes the user `user:<id>`. Otherwise, when guests
 * are allowed, a display name makes a guest `guest:<id>`. Fails closed: auth-session down or
 * answering oddly refuses the connection rather than guessing.
 */
export async function resolveIdentity(
  request: IdentityRequest,
  options: IdentityOptions,
): Promise<ChatUser> {
  if (request.cookie) {
    const user = await fetchSessionUser(request.cookie, options);
    if (user) return user;
  }
  if (!options.allowGuests) {
    throw new IdentityError('UNAUTHENTICATED', 'log in first: no valid session cookie');
  }
  if (request.guestName === undefined) {
    throw new IdentityError('UNAUTHENTICATED', 'no session cookie and no guest name given');
  }
  const username = parseDisplayName(request.guestName);
  if (!username) {
    throw new IdentityError(
      'INVALID_NAME',
      'name must be 1..32 characters without control characters',
    );
  }
  const guestId =
    typeof request.guestId === 'string' && GUEST_ID.test(request.guestId)
      ? request.guestId
      : randomBytes(9).toString('base64url');
  // Marked so that nobody mistakes a guest for a registered user: auth-session usernames are
  // [A-Za-z0-9_.-] only, so a name with this suffix can never equal one.
  return { id: `guest:${guestId}`, username: `${username}${GUEST_SUFFIX}` };
}

/** The session's user, or undefined when auth-session says 401 (no or expired session). */
async function fetchSessionUser(
  cookie: string,
  options: IdentityOptions,
): Promise<ChatUser | undefined> {
  let response: Response;
  try {
    response = await fetch(`${options.authUrl}/auth/me`, {
      headers: { cookie, accept: 'application/json' },
      signal: AbortSignal.timeout(options.authTimeoutMs),
    });
  } catch {
    throw new IdentityError(
      'AUTH_UNAVAILABLE',
      'cannot verify the session: auth-session is unreachable',
    );
  }
  if (response.status === 401) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new IdentityError(
      'AUTH_UNAVAILABLE',
      `cannot verify the session: auth-session answered ${response.status}`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as MeBody;
  const id = body.user?.id;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new IdentityError('AUTH_UNAVAILABLE', 'cannot verify the session: unexpected answer');
  }
  const name = typeof body.user?.username === 'string' ? body.user.username.slice(0, 64) : '';
  return {
    id: `user:${encodeURIComponent(String(id))}`,
    username: parseDisplayName(name.slice(0, MAX_NAME_LENGTH)) ?? `user ${String(id)}`,
  };
}
