import { hashTag } from './cache-keys';

/**
 * What travels on the eviction channel. Every message is published by a script that numbers it
 * (`<seq>|<json>`, one counter in Redis), so a subscriber can tell when it missed one.
 */
export type ChannelMessage =
  | {
      kind: 'eviction';
      seq: number | null;
      /** The id the acknowledgements name. */
      id: string;
      /** The member id of the writer (it does not acknowledge its own eviction). */
      from: string;
      groups: string[];
    }
  /** A member's heartbeat (or probe), published through the channel to prove it still arrives. */
  | { kind: 'ping'; seq: number | null; member: string; nonce: string }
  /** Unreadable: it may have named anything, so it evicts everything. */
  | { kind: 'unreadable'; seq: number | null };

/**
 * A member stops trusting its registration this long before Redis would expire it: room for
 * the difference between Redis' clock (which sets the expiry) and this process' monotonic clock.
 */
export const CLOCK_MARGIN_MS = 250;

/** A member's acknowledgement of one eviction. */
export interface EvictionAck {
  id: string;
  member: string;
}

export function evictionPayload(id: string, from: string, groups: string[]): string {
  return JSON.stringify({ id, from, groups });
}

export function pingPayload(member: string, nonce: string): string {
  return JSON.stringify({ ping: member, nonce });
}

export function ackPayload(ack: EvictionAck): string {
  return JSON.stringify({ id: ack.id, member: ack.member });
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Reads `<seq>|<json>`; a message without a readable number has `seq: null` (a gap). */
export function parseChannelMessage(message: string): ChannelMessage {
  const bar = message.indexOf('|');
  const seqText = bar > 0 ? message.slice(0, bar) : '';
  const seq = /^\d+$/.test(seqText) ? Number(seqText) : null;
  try {
    const parsed = JSON.parse(message.slice(bar + 1)) as Record<string, unknown>;
    if (typeof parsed.ping === 'string' && typeof parsed.nonce === 'string') {
      return { kind: 'ping', seq, member: parsed.ping, nonce: parsed.nonce };
    }
    if (
      typeof parsed.id === 'string' &&
      typeof parsed.from === 'string' &&
      isStringArray(parsed.groups)
    ) {
      return { kind: 'eviction', seq, id: parsed.id, from: parsed.from, groups: parsed.groups };
    }
  } catch {
    // falls through: unreadable
  }
  return { kind: 'unreadable', seq };
}

export function parseAck(message: string): EvictionAck | null {
  try {
    const parsed = JSON.parse(message) as Record<string, unknown>;
    return typeof parsed.id === 'string' && typeof parsed.member === 'string'
      ? { id: parsed.id, member: parsed.member }
      : null;
  } catch {
    return null;
  }
}

/**
 * A member id is `<replica>.<incarnation>`: a replica takes a new incarnation every time it
 * registers again, so writers waiting for an old one see it leave instead of waiting it out.
 */
export function memberId(replica: string, incarnation: number): string {
  return `${replica}.${incarnation}`;
}

export function replicaOf(member: string): string {
  const dot = member.lastIndexOf('.');
  return dot > 0 ? member.slice(0, dot) : member;
}

/** The group an eviction names to drop everything (the outbox's TRUNCATE and gap rules). */
export const ALL_GROUPS = '*';

/** Whether a key belongs to one of the groups (it carries the group's `{hash tag}`). */
export function inGroups(key: string, groups: string[]): boolean {
  return groups.some((group) => group === ALL_GROUPS || key.includes(hashTag(group)));
}
