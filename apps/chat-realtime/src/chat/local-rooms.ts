import type { ChatUser } from './chat-protocol';
import type { ChatSocket } from './chat-context';

interface LocalUser {
  user: ChatUser;
  sockets: Set<string>;
}

/**
 * The rooms this replica's sockets are in, by user (a user's tabs count once), and the presence
 * list each room was last told: what the heartbeat refreshes and a shutdown removes.
 */
export class LocalRooms {
  private readonly rooms = new Map<string, Map<string, LocalUser>>();
  private readonly lastPresence = new Map<string, string>();

  /** Adds the socket; true when it is the user's first socket in the room on this replica. */
  add(room: string, socket: ChatSocket): boolean {
    let users = this.rooms.get(room);
    if (!users) this.rooms.set(room, (users = new Map()));
    const { user } = socket.data;
    const entry = users.get(user.id);
    if (entry) {
      entry.sockets.add(socket.id);
      return false;
    }
    users.set(user.id, { user, sockets: new Set([socket.id]) });
    return true;
  }

  /**
   * The user as entered in presence when this was their last socket in the room on this replica
   * (a guest's tabs may differ in name; the first one's entry is the one to remove).
   */
  remove(room: string, socket: ChatSocket): ChatUser | undefined {
    const users = this.rooms.get(room);
    const entry = users?.get(socket.data.user.id);
    if (!users || !entry || !entry.sockets.delete(socket.id)) return undefined;
    if (entry.sockets.size > 0) return undefined;
    users.delete(socket.data.user.id);
    if (users.size === 0) {
      this.rooms.delete(room);
      this.lastPresence.delete(room);
    }
    return entry.user;
  }

  /** Whether the user's sockets on this replica are already in `room`. */
  userHere(room: string, socket: ChatSocket): boolean {
    return this.rooms.get(room)?.has(socket.data.user.id) ?? false;
  }

  /** Whether this socket is in the room's local entry (joined and not yet removed). */
  holds(room: string, socket: ChatSocket): boolean {
    return this.rooms.get(room)?.get(socket.data.user.id)?.sockets.has(socket.id) ?? false;
  }

  has(room: string): boolean {
    return this.rooms.has(room);
  }

  get size(): number {
    return this.rooms.size;
  }

  names(): string[] {
    return [...this.rooms.keys()];
  }

  /** Each room with the users this replica holds in it. */
  entries(): Array<[string, ChatUser[]]> {
    return [...this.rooms].map(([room, users]) => [
      room,
      [...users.values()].map((entry) => entry.user),
    ]);
  }

  /** Each user id with the rooms this replica holds it in. */
  roomsByUser(): Map<string, string[]> {
    const byUser = new Map<string, string[]>();
    for (const [room, users] of this.rooms) {
      for (const id of users.keys()) byUser.set(id, [...(byUser.get(id) ?? []), room]);
    }
    return byUser;
  }

  /** Whether `users` differs from the list the room was last told. */
  presenceChanged(room: string, users: ChatUser[]): boolean {
    return this.lastPresence.get(room) !== JSON.stringify(users);
  }

  /** Records the list the room was told. */
  notePresence(room: string, users: ChatUser[]): void {
    this.lastPresence.set(room, JSON.stringify(users));
  }
}
