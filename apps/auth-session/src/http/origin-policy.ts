/**
 * Whether a state-changing request may proceed: service-kit's rule (no `Origin`: not a browser,
 * allowed; same host as the request reached, or a listed origin; `null` never), shared with
 * chat-realtime's WebSocket handshake.
 */
export { isOriginAllowed } from '@redis-patterns/service-kit';
