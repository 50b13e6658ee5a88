// A steady, bounded mixed load through the gateway that remembers every acknowledged write, so
// that after a fault it can be checked that none of them was lost. Each service's share (its
// setup, its requests, its read-back) is a workload in ./workloads; this file only runs them.
import { randomUUID } from 'node:crypto';
import { delay } from '@redis-patterns/testkit';
import { GatewayClient } from './gateway-client';
import { AuthWorkload, type AuthVerification } from './workloads/auth-workload';
import { ChatWorkload, type ChatVerification } from './workloads/chat-workload';
import { InventoryWorkload, type InventoryVerification } from './workloads/inventory-workload';
import {
  LeaderboardWorkload,
  type LeaderboardVerification,
} from './workloads/leaderboard-workload';
import { LoadEvents, type LoadEvent, type Op } from './workloads/load-events';
import { ProductWorkload, type ProductVerification } from './workloads/product-workload';
import type { Workload, WorkloadContext } from './workloads/workload';

export { outcomeOf, type LoadEvent, type Op } from './workloads/load-events';

export interface LoadOptions {
  gatewayUrls: string[];
  /** Concurrent HTTP loops, one operation each (8 covers every operation once). @default 8 */
  workers?: number;
  /** Pause of each loop between requests, keeping the load steady and bounded. @default 10 */
  thinkMs?: number;
  /** Gap between two chat messages. @default 100 */
  chatIntervalMs?: number;
  /** Per-request deadline; past it the request counts as failed. @default 10000 */
  timeoutMs?: number;
}

export type Verification = AuthVerification &
  ProductVerification &
  InventoryVerification &
  LeaderboardVerification &
  ChatVerification;

/**
 * One loop per operation, so an operation that blocks during a fault (a write waiting on a
 * paused PostgreSQL) does not starve the others; reads get two loops. Chat messages are sent by
 * a loop of their own, at the chat interval.
 */
const LOOPS: Op[] = [
  'product.read',
  'auth.me',
  'inventory.reserve',
  'leaderboard.score',
  'product.read',
  'leaderboard.top',
  'product.write',
  'auth.login',
];

export class MixedLoad {
  readonly client: GatewayClient;
  private readonly recorded = new LoadEvents();
  private readonly options: Required<LoadOptions>;
  /** The leaderboard's and the chat room's name: one hash tag, so one Cluster slot. */
  private readonly name: string;
  private readonly auth: AuthWorkload;
  private readonly inventory: InventoryWorkload;
  private readonly products: ProductWorkload;
  private readonly leaderboard: LeaderboardWorkload;
  private readonly chat: ChatWorkload;
  private running = false;
  private loops: Promise<void>[] = [];
  private turn = 0;

  constructor(options: LoadOptions) {
    this.options = {
      workers: 8,
      thinkMs: 10,
      chatIntervalMs: 100,
      timeoutMs: 10000,
      ...options,
    };
    this.client = new GatewayClient(options.gatewayUrls);
    const tag = randomUUID().slice(0, 8);
    const context: WorkloadContext = {
      client: this.client,
      events: this.recorded,
      tag,
      timeoutMs: this.options.timeoutMs,
    };
    this.name = `drill-${tag}`;
    this.auth = new AuthWorkload(context);
    this.inventory = new InventoryWorkload(context);
    this.products = new ProductWorkload(context);
    this.leaderboard = new LeaderboardWorkload(context, this.name);
    this.chat = new ChatWorkload(context, this.name, this.options.chatIntervalMs);
  }

  /** Every request sent so far, setup included. */
  get events(): LoadEvent[] {
    return this.recorded.all;
  }

  /** Sessions are Redis-only; a drill that empties Redis may log them out (documented). */
  get relogins(): number {
    return this.auth.relogins;
  }

  /**
   * A key in the slot of this load's leaderboard and chat room (both are hash-tagged with the same
   * name), so that a Cluster drill can fault the master that holds them.
   */
  get faultKey(): string {
    return `{${this.name}}`;
  }

  private get workloads(): Workload<object>[] {
    return [this.auth, this.inventory, this.products, this.leaderboard, this.chat];
  }

  private owner(op: Op): Workload<object> {
    const workload = this.workloads.find((w) => w.ops.includes(op));
    if (!workload) throw new Error(`no workload runs ${op}`);
    return workload;
  }

  /** Users, stock, products to write and two chat members on different chat replicas. */
  async setup(): Promise<void> {
    for (const workload of this.workloads) await workload.setup();
  }

  /** `counted`: the loop advances the shared turn that spreads requests over keys and users. */
  private async loop(op: Op, counted: boolean): Promise<void> {
    const workload = this.owner(op);
    while (this.running) {
      if (counted) this.turn += 1;
      await workload.step(op, this.turn);
      await delay(workload.pauseAfter?.(op) ?? this.options.thinkMs);
    }
  }

  start(): void {
    this.running = true;
    this.loops = [
      ...Array.from({ length: this.options.workers }, (_, i) =>
        this.loop(LOOPS[i % LOOPS.length], true),
      ),
      this.loop('chat.send', false),
    ];
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Events sent in [from, to). */
  between(from: number, to = Infinity): LoadEvent[] {
    return this.events.filter((e) => e.at >= from && e.at < to);
  }

  /**
   * Checks every acknowledged write after the load stopped. Redis-only writes acknowledged
   * before `keepFrom` (a drill that empties Redis) are counted apart, as documented losses.
   */
  async verify(settleMs = 3000, keepFrom = 0): Promise<Verification> {
    const window = { settleMs, keepFrom };
    const inventory = await this.inventory.verify();
    const leaderboard = await this.leaderboard.verify(window);
    const products = await this.products.verify();
    const chat = await this.chat.verify(window);
    const auth = await this.auth.verify(window);
    // In the order of the drills' figures (bench-results/drills-*.json).
    return {
      ...auth,
      productReadbacks: products.productReadbacks,
      productStaleReads: products.productStaleReads,
      productStaleAt: products.productStaleAt,
      ...inventory,
      ...leaderboard,
      productWritesAcked: products.productWritesAcked,
      productWritesLost: products.productWritesLost,
      ...chat,
    };
  }

  close(): void {
    for (const workload of this.workloads) workload.close?.();
  }
}
