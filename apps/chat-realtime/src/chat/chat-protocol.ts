import { isStreamId } from './stream-id';

/** Who is talking: an auth-session user (`user:<id>`) or a guest (`guest:<id>`). */
export interface ChatUser {
  id: string;
  username: string;
}

/** A stored message as clients see it; `id` is its Redis Stream id, `ts` the ms part of it. */
export interface ChatMessage {
  id: string;
  room: string;
  user: ChatUser;
  text: string;
  ts: number;
  /** Its place in the room: 1, 2, 3, ... without gaps within the room's epoch. */
  offset: number;
  /**
   * The sender's id for this send, so that the sender's page can match a message that reaches it
   * (live or by recovery) before the ack of its last resend. Harmless to others: dedupe is per
   * (user, clientMsgId).
   */
  clientMsgId: string;
}

export type ChatErrorCode =
  | 'INVALID_ROOM'
  | 'INVALID_TEXT'
  | 'INVALID_CLIENT_MSG_ID'
  | 'INVALID_LAST_SEEN_ID'
  | 'INVALID_EPOCH'
  | 'INVALID_OFFSET'
  | 'INVALID_PAYLOAD'
  | 'NOT_IN_ROOM'
  | 'RATE_LIMITED'
  | 'TOO_MANY_ROOMS'
  | 'UNAVAILABLE'
  | 'INTERNAL_ERROR';

/** The ack of a refused request. */
export interface ErrorAck {
  error: { code: ChatErrorCode; message: string };
}

export interface JoinRequest {
  room: string;
  lastSeenId?: string;
  /** Recovery: the room's epoch the client last saw, and the offset it holds everything up to. */
  since?: { epoch: string; offset: number };
}

export interface SendRequest {
  room: string;
  text: string;
  clientMsgId: string;
}

export const ROOM_PATTERN = '^[a-z0-9_-]{1,64}$';
export const MAX_TEXT_LENGTH = 2000;
export const CLIENT_MSG_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const MAX_NAME_LENGTH = 32;

export const EPOCH_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const ROOM = new RegExp(ROOM_PATTERN);
const EPOCH = new RegExp(EPOCH_PATTERN);
const CLIENT_MSG_ID = new RegExp(CLIENT_MSG_ID_PATTERN);
// Control characters would let a name or message spoof lines in logs and on the page.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// A message may hold tabs and line breaks; NUL and other C0 controls would spoof the page and
// logs, and PostgreSQL refuses NUL in text.
// eslint-disable-next-line no-control-regex
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export function errorAck(code: ChatErrorCode, message: string): ErrorAck {
  return { error: { code, message } };
}

export function isErrorAck(value: unknown): value is ErrorAck {
  return typeof value === 'object' && value !== null && 'error' in value;
}

function record(payload: unknown): Record<string, unknown> | ErrorAck {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return errorAck('INVALID_PAYLOAD', 'payload must be an object');
  }
  return payload as Record<string, unknown>;
}

export function checkRoom(room: unknown): string | ErrorAck {
  if (typeof room !== 'string' || !ROOM.test(room)) {
    return errorAck('INVALID_ROOM', 'room must be 1..64 characters of a-z, 0-9, _ and -');
  }
  return room;
}

export function parseRoomRequest(payload: unknown): { room: string } | ErrorAck {
  const body = record(payload);
  if (isErrorAck(body)) return body;
  const room = checkRoom(body.room);
  return isErrorAck(room) ? room : { room };
}

export function parseJoin(payload: unknown): JoinRequest | ErrorAck {
  const body = record(payload);
  if (isErrorAck(body)) return body;
  const room = checkRoom(body.room);
  if (isErrorAck(room)) return room;
  const { lastSeenId, epoch, offset } = body;
  const given = (value: unknown) => value !== undefined && value !== null;
  if (given(epoch) || given(offset)) {
    if (typeof epoch !== 'string' || !EPOCH.test(epoch)) {
      return errorAck('INVALID_EPOCH', 'epoch must be the room epoch a join returned');
    }
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      return errorAck('INVALID_OFFSET', 'offset must be an integer >= 0 (a message offset)');
    }
    return { room, since: { epoch, offset } };
  }
  if (!given(lastSeenId)) return { room };
  if (typeof lastSeenId !== 'string' || !isStreamId(lastSeenId)) {
    return errorAck('INVALID_LAST_SEEN_ID', 'lastSeenId must be a message id like 1700000000000-0');
  }
  return { room, lastSeenId };
}

export function parseSend(payload: unknown): SendRequest | ErrorAck {
  const body = record(payload);
  if (isErrorAck(body)) return body;
  const room = checkRoom(body.room);
  if (isErrorAck(room)) return room;
  const { text, clientMsgId } = body;
  if (typeof text !== 'string' || text.trim().length === 0 || text.length > MAX_TEXT_LENGTH) {
    return errorAck('INVALID_TEXT', `text must be 1..${MAX_TEXT_LENGTH} characters, not blank`);
  }
  if (TEXT_CONTROL.test(text)) {
    return errorAck(
      'INVALID_TEXT',
      'text must not hold control characters other than tab and newline',
    );
  }
  if (typeof clientMsgId !== 'string' || !CLIENT_MSG_ID.test(clientMsgId)) {
    return errorAck(
      'INVALID_CLIENT_MSG_ID',
      'clientMsgId must be 1..64 characters of A-Z, a-z, 0-9, _ and -',
    );
  }
  return { room, text, clientMsgId };
}

export const MAX_UNREAD_ROOMS = 100;

/** `read {room, offset}`: the user has read every message of the room up to `offset`. */
export function parseRead(payload: unknown): { room: string; offset: number } | ErrorAck {
  const body = record(payload);
  if (isErrorAck(body)) return body;
  const room = checkRoom(body.room);
  if (isErrorAck(room)) return room;
  const { offset } = body;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    return errorAck('INVALID_OFFSET', 'offset must be an integer >= 0 (a message offset)');
  }
  return { room, offset };
}

/** `unread {rooms}`: 1..100 room names. */
export function parseUnread(payload: unknown): { rooms: string[] } | ErrorAck {
  const body = record(payload);
  if (isErrorAck(body)) return body;
  const { rooms } = body;
  if (!Array.isArray(rooms) || rooms.length === 0 || rooms.length > MAX_UNREAD_ROOMS) {
    return errorAck('INVALID_PAYLOAD', `rooms must list 1..${MAX_UNREAD_ROOMS} rooms`);
  }
  for (const room of rooms) {
    const checked = checkRoom(room);
    if (isErrorAck(checked)) return checked;
  }
  return { rooms: [...new Set(rooms as string[])] };
}

/** A guest's display name, trimmed, or undefined when it is not acceptable. */
export function parseDisplayName(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH || CONTROL.test(trimmed)) {
    return undefined;
  }
  return trimmed;
}
