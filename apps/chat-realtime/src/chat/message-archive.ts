import type { FastifyInstance } from 'fastify';
import type { ChatMessage } from './chat-protocol';

interface MessageRow {
  room: string;
  offset: string;
  id: string;
  id_ms: string;
  user_id: string;
  username: string;
  body: string;
  client_msg_id: string;
}

const COLUMNS = 'room, "offset", id, id_ms, user_id, username, body, client_msg_id';

function toMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    room: row.room,
    user: { id: row.user_id, username: row.username },
    text: row.body,
    ts: Number(row.id_ms),
    offset: Number(row.offset),
    clientMsgId: row.client_msg_id,
  };
}

/** Thrown when the archive holds another message at an offset: the numbering diverged. */
export class ArchiveConflictError extends Error {
  constructor(room: string, offset: number) {
    super(`the archive holds another message at ${room} offset ${offset}`);
    this.name = 'ArchiveConflictError';
  }
}

/**
 * Acknowledged messages in PostgreSQL (`chat_messages`), so that history outlives Redis: read
 * when Redis lost a room (restarted empty) or trimmed it (the stream cap), and the source a
 * lost numbering is restored from.
 */
export class MessageArchive {
  constructor(private readonly pg: FastifyInstance['pg']) {}

  /**
   * Records a stored message; idempotent, so a resend records it once. Resolves once committed
   * (one statement, autocommit). Rejects when another message holds its offset.
   */
  async record(message: ChatMessage, epoch: string, clientMsgId: string): Promise<void> {
    const [ms, seq] = message.id.split('-');
    const inserted = await this.pg.query(
      `INSERT INTO chat_messages (room, "offset", epoch, id, id_ms, id_seq, user_id, username, body, client_msg_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (room, "offset") DO NOTHING`,
      [
        message.room,
        message.offset,
        epoch,
        message.id,
        ms,
        seq,
        message.user.id,
        message.user.username,
        message.text,
        clientMsgId,
      ],
    );
    if (inserted.rowCount === 1) return;
    const existing = await this.pg.query<{ id: string }>(
      'SELECT id FROM chat_messages WHERE room = $1 AND "offset" = $2',
      [message.room, message.offset],
    );
    if (existing.rows[0]?.id !== message.id) {
      throw new ArchiveConflictError(message.room, message.offset);
    }
  }

  /** The room's newest archived offset and its epoch, or undefined when nothing is archived. */
  async numbering(room: string): Promise<{ epoch: string; offset: number } | undefined> {
    const { rows } = await this.pg.query<{ epoch: string; offset: string }>(
      'SELECT epoch, "offset" FROM chat_messages WHERE room = $1 ORDER BY "offset" DESC LIMIT 1',
      [room],
    );
    return rows[0] && { epoch: rows[0].epoch, offset: Number(rows[0].offset) };
  }

  /** Messages with an offset in (`after`, `upTo`], oldest first, at most `limit`. */
  async between(room: string, after: number, upTo: number, limit: number): Promise<ChatMessage[]> {
    const { rows } = await this.pg.query<MessageRow>(
      `SELECT ${COLUMNS} FROM chat_messages
       WHERE room = $1 AND "offset" > $2 AND "offset" <= $3 ORDER BY "offset" LIMIT $4`,
      [room, after, upTo, limit],
    );
    return rows.map(toMessage);
  }

  /** The newest `limit` messages with an offset below `below`, oldest first. */
  async below(room: string, below: number, limit: number): Promise<ChatMessage[]> {
    const { rows } = await this.pg.query<MessageRow>(
      `SELECT ${COLUMNS} FROM chat_messages
       WHERE room = $1 AND "offset" < $2 ORDER BY "offset" DESC LIMIT $3`,
      [room, below, limit],
    );
    return rows.reverse().map(toMessage);
  }

  /** Up to `limit` messages strictly before the id `beforeId` (or the newest), oldest first. */
  before(room: string, beforeId: string | undefined, limit: number): Promise<ChatMessage[]> {
    return this.from(room, undefined, beforeId, limit);
  }

  /**
   * The newest `limit` messages from the stream id `from` (exclusive when written `(id`, as
   * XRANGE takes it; undefined: the oldest) to strictly before `beforeId` (undefined: the
   * newest), oldest first.
   */
  async from(
    room: string,
    from: string | undefined,
    beforeId: string | undefined,
    limit: number,
  ): Promise<ChatMessage[]> {
    const params: unknown[] = [room, limit];
    const where = ['room = $1'];
    const bound = (id: string, op: string) => {
      const [ms, seq] = id.split('-');
      params.push(ms, seq);
      where.push(
        `(id_ms, id_seq) ${op} ($${params.length - 1}::bigint, $${params.length}::numeric)`,
      );
    };
    if (from) bound(from.replace(/^\(/, ''), from.startsWith('(') ? '>' : '>=');
    if (beforeId) bound(beforeId, '<');
    const { rows } = await this.pg.query<MessageRow>(
      `SELECT ${COLUMNS} FROM chat_messages WHERE ${where.join(' AND ')}
       ORDER BY id_ms DESC, id_seq DESC LIMIT $2`,
      params,
    );
    return rows.reverse().map(toMessage);
  }
}
