import type { SentinelEvents } from './sentinel-watch';

/** Sentinel events that mean a failover of the master has begun: stop acknowledging. */
const FAILOVER_STARTED = new Set([
  '+try-failover',
  '+elected-leader',
  '+failover-state-select-slave',
  '+selected-slave',
  '+failover-state-send-slaveof-noone',
  '+failover-state-wait-promotion',
  '+promoted-slave',
  '+failover-state-reconf-slaves',
]);

/** Sentinel events that mean it has ended, one way or the other. */
const FAILOVER_ENDED = new Set([
  '+switch-master',
  '-failover-abort-not-elected',
  '-failover-abort-no-good-slave',
  '-failover-abort-slave-timeout',
]);

/**
 * Watches every Sentinel for failovers of one master, so that a write acknowledged by `WAIT`
 * can be refused when a failover began while it was in flight. Why: during a Sentinel failover
 * the old master keeps taking writes, and the replica not yet reconfigured keeps acknowledging
 * them, until Sentinel repoints it to the promoted one and the resync discards them (measured:
 * 180 of 2,076 writes acknowledged by `WAIT 1` were lost in a forced failover). Sentinel
 * publishes `+selected-slave` before it promotes anyone, so a write whose `WAIT` returned
 * after that event is answered 503 instead of a false success.
 */
export class SentinelFailoverGate {
  private epochValue = 0;
  private openedAt = 0;
  private active = false;
  private readonly unsubscribe: () => void;

  constructor(
    /** The client's Sentinel subscriptions (its SentinelMasterMap's), shared, not opened again. */
    events: SentinelEvents,
    private readonly masterName: string,
    /** Longest the gate stays shut without an end event (a Sentinel that died mid-failover). */
    private readonly maxFailoverMs = 30000,
  ) {
    this.unsubscribe = events.onEvent((channel, message) => this.onEvent(channel, message));
  }

  /** Changes whenever a failover begins or ends. */
  get epoch(): number {
    return this.epochValue;
  }

  /** True while a failover of the master is in progress. */
  get inFailover(): boolean {
    if (this.active && Date.now() - this.openedAt > this.maxFailoverMs) this.active = false;
    return this.active;
  }

  close(): void {
    this.unsubscribe();
  }

  private onEvent(channel: string, message: string): void {
    if (!FAILOVER_STARTED.has(channel) && !FAILOVER_ENDED.has(channel)) return;
    // `<type> <name> <ip> <port> @ <master> <ip> <port>`, or `<master> ...` for +switch-master.
    const words = message.split(' ');
    const at = words.indexOf('@');
    const master = channel === '+switch-master' ? words[0] : at >= 0 ? words[at + 1] : words[1];
    if (master !== this.masterName) return;
    const starting = FAILOVER_STARTED.has(channel);
    if (starting && this.active) return;
    this.active = starting;
    this.openedAt = Date.now();
    this.epochValue += 1;
  }
}
