import type { ChatContext } from './chat-context';

/**
 * Presence heartbeat: refreshes this replica's entries and tells local members when the room
 * changed without an event (another replica died and its entries expired). Returns its stop.
 */
export function startPresenceHeartbeat(ctx: ChatContext): () => void {
  let beating = false;
  const heartbeat = setInterval(() => {
    if (beating || ctx.closing) return;
    beating = true;
    const roomsByUser = ctx.local.roomsByUser();
    void Promise.all([
      ...ctx.local.entries().map(async ([room, users]) => {
        const listed = await ctx.presence.update(
          room,
          users.map((user) => ctx.member(user)),
        );
        if (ctx.local.has(room) && ctx.local.presenceChanged(room, listed)) {
          ctx.publishPresence(room, listed, false);
        }
      }),
      // The rooms this replica holds each user in keep counting towards their cap.
      ...[...roomsByUser].map(([id, rooms]) => ctx.limits.refreshRooms(id, rooms)),
    ])
      .catch((error: unknown) => ctx.app.log.debug({ err: error }, 'presence heartbeat failed'))
      .finally(() => {
        beating = false;
      });
  }, ctx.options.presenceHeartbeatMs);
  heartbeat.unref();
  return () => clearInterval(heartbeat);
}
