/**
 * The admin port's surface. service-kit registers these routes (and their schemas) on every
 * service; the gateway is the one service whose port is public, so it serves them on a port of
 * their own. Matched on the registered route (`request.routeOptions.url`), not on the raw path.
 */

/** Operator routes answered on the admin port only: the public port answers 404 for them. */
export const ADMIN_ONLY_ROUTE = /^\/(metrics|docs)(\/|$)/;
