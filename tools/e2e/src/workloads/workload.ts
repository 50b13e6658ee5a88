// The one shape of a service's share of the mixed load: it sets up what it needs, runs one request
// of an operation per step, and after the load stopped reads back every write it saw acknowledged.
import type { GatewayClient } from '../gateway-client';
import type { LoadEvents, Op } from './load-events';

/** What every workload of one load shares. */
export interface WorkloadContext {
  client: GatewayClient;
  events: LoadEvents;
  /** Unique to this load: every user, key and room it creates carries it. */
  tag: string;
  /** Per-request deadline; past it the request counts as failed. */
  timeoutMs: number;
}

/** How the read-back after the load judges what it finds. */
export interface VerifyWindow {
  /** How long acknowledged deliveries may still take to arrive. */
  settleMs: number;
  /**
   * Redis-only writes acknowledged before this (a drill that emptied Redis) are counted apart,
   * as documented losses; 0 when nothing was emptied.
   */
  keepFrom: number;
}

export interface Workload<V extends object> {
  /** The operations its steps run. */
  readonly ops: readonly Op[];
  /** The pause after a step of `op`, when it is not the load's think time. */
  pauseAfter?(op: Op): number | undefined;
  setup(): Promise<void>;
  /** One request of `op`; `turn` (the load's step counter) picks which of its keys it uses. */
  step(op: Op, turn: number): Promise<void>;
  /** Checks every acknowledged write after the load stopped. */
  verify(window: VerifyWindow): Promise<V>;
  close?(): void;
}
