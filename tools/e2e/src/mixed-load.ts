// A steady, bounded mixed load through the gateway that remembers every acknowledged write, so
// that after a fault it can be checked that none of them was lost.
import { randomUUID } from 'node:crypto';
import { GatewayClient, cookieOf, type Reply } from './gateway-client';
import { ChatMember } from './chat-client';

export type Op =
  | 'product.read'
  | 'product.write'
  | 'auth.me'
  | 'auth.login'
  | 'auth.logout'
  | 'inventory.reserve'
  | 'leaderboard.score'
  | 'leaderboard.top'
  | 'chat.send';

export interface LoadEvent {
  /** Date.now() when the request was sent. */
  at: number;
  op: Op;
  ok: boolean;
  /** HTTP status, `ack` for a chat ack, or the network error / ack error code. */
  outcome: string;
  ms: number;
}

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

export interface Verification {
  reservationsAcked: number;
  reservationsLost: number;
  /** Stock that differs from initial - every reservation that exists (oversell or lost update). */
  stockMismatch: number;
  scoresAcked: number;
  /** Acknowledged after `keepFrom` (or at any time without it) and gone. */
  scoresLost: number;
  /** Acknowledged before `keepFrom` and gone (Redis-only data, emptied by the drill). */
  scoresLostBeforeKeep: number;
  productWritesAcked: number;
  /** Products whose value is neither the last acknowledged write nor a later attempt. */
  productWritesLost: number;
  chatAcked: number;
  /** Acknowledged messages no longer in the room's history. */
  chatLost: number;
  chatLostBeforeKeep: number;
  /** Acknowledged messages the live member on the other replica never received. */
  chatUndelivered: number;
  chatDuplicates: number;
  /** Chat members disconnected on purpose by a stopping server (they reconnect by hand). */
  chatServerDisconnects: number;
  /** Sessions created by an acknowledged login and not logged out since. */
  loginsAcked: number;
  /** Of those, acknowledged after `keepFrom` and answered 401 (during the load or afterwards). */
  loginsLost: number;
  /** Acknowledged before `keepFrom` and answered 401 (Redis-only sessions, emptied by the drill). */
  loginsLostBeforeKeep: number;
  logoutsAcked: number;
  /** Acknowledged logouts whose session answers 200 again: the logout was undone. */
  logoutsReverted: number;
  /** Sessions whose state could not be read back (neither 200 nor 401 in 5 tries). */
  sessionsUnverified: number;
  /** Reads of a product right after its acknowledged write (both gateways, so both caches). */
  productReadbacks: number;
  /** Of those, answered 200 with an older price than the one just acknowledged. */
  productStaleReads: number;
  /** When each stale read was sent. */
  productStaleAt: number[];
}

/**
 * One loop per operation, so an operation that blocks during a fault (a write waiting on a
 * paused PostgreSQL) does not starve the others; reads get two loops.
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
const INITIAL_STOCK = 1_000_000;
const PLAYERS = 20;

/** `200`, `503 SESSION_STORE_UNAVAILABLE` (error code of the envelope), or the network error. */
export function outcomeOf(reply: Reply): string {
  if (!reply.status) return reply.error ?? 'ERROR';
  const code = (reply.body as { code?: unknown } | undefined)?.code;
  return reply.status >= 400 && typeof code === 'string'
    ? `${reply.status} ${code}`
    : String(reply.status);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Session {
  username: string;
  password: string;
  cookie: string;
  /** The acknowledged login that created `cookie`. */
  login?: LoginAck;
}

/** A session created by an acknowledged login, and what became of it. */
interface LoginAck {
  cookie: string;
  at: number;
  /** `in`: must answer 200; `out`: logout acknowledged, must answer 401; `unknown`: logout failed. */
  state: 'in' | 'out' | 'unknown';
  /** Seen answering 401 while `in` (reported once). */
  dropped?: boolean;
  /** When the logout was acknowledged. */
  outAt?: number;
}

interface ProductState {
  id: number;
  body: Record<string, unknown>;
  lastAcked: number | undefined;
  /** Prices sent after the last ack whose outcome is unknown (they may have been applied). */
  unknown: number[];
  nextPrice: number;
  /** Writes to one product are sequential, so the last acknowledged one must win. */
  busy: boolean;
}

export class MixedLoad {
  readonly client: GatewayClient;
  readonly events: LoadEvent[] = [];
  private readonly options: Required<LoadOptions>;
  private readonly tag = randomUUID().slice(0, 8);
  private readonly skus: string[];
  private readonly board: string;
  private readonly room: string;
  private sessions: Session[] = [];
  private products: ProductState[] = [];
  private readonly reservations = new Map<string, { sku: string; acked: boolean }>();
  private readonly scoreAcks: { playerId: string; score: number; at: number }[] = [];
  private scoreCounter = 0;
  private readonly logins: LoginAck[] = [];
  private loginCount = 0;
  private productReadbacks = 0;
  private readonly productStaleAt: number[] = [];
  /** Acknowledged message id -> when it was sent. */
  private readonly chatAcked = new Map<string, number>();
  private sender: ChatMember | undefined;
  private receiver: ChatMember | undefined;
  private running = false;
  private loops: Promise<void>[] = [];
  private turn = 0;
  /** Sessions are Redis-only; a drill that empties Redis may log them out (documented). */
  relogins = 0;

  constructor(options: LoadOptions) {
    this.options = {
      workers: 8,
      thinkMs: 10,
      chatIntervalMs: 100,
      timeoutMs: 10000,
      ...options,
    };
    this.client = new GatewayClient(options.gatewayUrls);
    this.skus = [0, 1, 2, 3].map((i) => `drill-${this.tag}-${i}`);
    this.board = `drill-${this.tag}`;
    this.room = `drill-${this.tag}`;
  }

  /**
   * A key in the slot of this load's leaderboard and chat room (both are hash-tagged with the same
   * name), so that a Cluster drill can fault the master that holds them.
   */
  get faultKey(): string {
    return `{${this.board}}`;
  }

  private must(reply: Reply, status: number, what: string): Reply {
    if (reply.status !== status) {
      throw new Error(
        `${what}: expected ${status}, got ${reply.status || reply.error} ${JSON.stringify(reply.body)}`,
      );
    }
    return reply;
  }

  /** Users, stock, products to write and two chat members on different chat replicas. */
  async setup(): Promise<void> {
    for (let i = 0; i < 4; i += 1) {
      const username = `drill_${this.tag}_${i}`;
      const password = `password-${this.tag}`;
      this.must(
        await this.client.post('/api/auth/register', { username, password }),
        201,
        'register',
      );
      this.sessions.push({ username, password, cookie: '' });
      await this.login(this.sessions[i]);
    }
    for (const sku of this.skus) {
      this.must(
        await this.client.put(`/api/inventory/${sku}`, { stock: INITIAL_STOCK }),
        200,
        'stock',
      );
    }
    const base = 9000 + Math.floor(Math.random() * 900);
    for (const id of [base, base + 1]) {
      const reply = this.must(await this.client.get(`/api/products/${id}`), 200, 'product');
      const { sku, name, description, priceCents, category } = reply.body as Record<
        string,
        unknown
      >;
      this.products.push({
        id,
        body: { sku, name, description, category },
        lastAcked: priceCents as number,
        unknown: [],
        nextPrice: 100_000,
        busy: false,
      });
    }
    this.sender = new ChatMember(this.options.gatewayUrls[0], `sender-${this.tag}`);
    await this.sender.connected();
    this.receiver = new ChatMember(this.options.gatewayUrls[0], `receiver-${this.tag}`);
    await this.receiver.connected();
    await this.sender.join(this.room);
    await this.receiver.join(this.room);
  }

  private async login(session: Session): Promise<boolean> {
    const at = Date.now();
    const reply = await this.client.post(
      '/api/auth/login',
      { username: session.username, password: session.password },
      { timeoutMs: this.options.timeoutMs },
    );
    this.record('auth.login', at, reply, [200]);
    if (reply.status !== 200) return false;
    session.cookie = cookieOf(reply);
    session.login = { cookie: session.cookie, at, state: 'in' };
    this.logins.push(session.login);
    return true;
  }

  /** The probe user: a new session, and every other one is logged out again at once. */
  private async loginProbe(): Promise<void> {
    const probe = this.sessions[this.sessions.length - 1];
    if (!(await this.login(probe)) || !probe.login) return;
    this.loginCount += 1;
    if (this.loginCount % 2 === 1) return;
    const login = probe.login;
    const at = Date.now();
    const reply = await this.client.post(
      '/api/auth/logout',
      {},
      { headers: { cookie: login.cookie }, timeoutMs: this.options.timeoutMs },
    );
    if (this.record('auth.logout', at, reply, [204])) {
      login.state = 'out';
      login.outAt = at;
    } else {
      login.state = 'unknown';
    }
  }

  /** `GET /auth/me` with a cookie until it answers 200 or 401 (at most 5 tries). */
  private async sessionStatus(cookie: string): Promise<number> {
    let status = 0;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      status = (await this.client.get('/api/auth/me', { headers: { cookie } })).status;
      if (status === 200 || status === 401) return status;
      await sleep(200);
    }
    return status;
  }

  private record(op: Op, at: number, reply: Reply, okStatus: number[]): boolean {
    const ok = okStatus.includes(reply.status);
    this.events.push({
      at,
      op,
      ok,
      outcome: outcomeOf(reply),
      ms: reply.ms,
    });
    return ok;
  }

  private async step(op: Op): Promise<void> {
    const at = Date.now();
    const timeoutMs = this.options.timeoutMs;
    switch (op) {
      case 'product.read': {
        const id = 1 + Math.floor(Math.random() * 200);
        this.record(op, at, await this.client.get(`/api/products/${id}`, { timeoutMs }), [200]);
        return;
      }
      case 'product.write': {
        const product = this.products[this.turn % this.products.length];
        if (product.busy) return;
        product.busy = true;
        const price = (product.nextPrice += 1);
        product.unknown.push(price);
        const reply = await this.client.put(
          `/api/products/${product.id}`,
          { ...product.body, priceCents: price },
          { timeoutMs },
        );
        if (this.record(op, at, reply, [200])) {
          product.lastAcked = price;
          product.unknown = [];
          // Read your write: the next reads, whichever gateway and cache replica answer them,
          // must have the price just acknowledged (no other write to this product is in flight).
          for (let i = 0; i < 2; i += 1) {
            const readAt = Date.now();
            const read = await this.client.get(`/api/products/${product.id}`, { timeoutMs });
            if (!this.record('product.read', readAt, read, [200])) continue;
            this.productReadbacks += 1;
            if ((read.body as { priceCents?: number }).priceCents !== price)
              this.productStaleAt.push(readAt);
          }
        } else if (reply.status >= 400 && reply.status < 500) {
          product.unknown = product.unknown.filter((p) => p !== price);
        }
        product.busy = false;
        return;
      }
      case 'auth.me': {
        const session = this.sessions[this.turn % (this.sessions.length - 1)];
        const reply = await this.client.get('/api/auth/me', {
          headers: { cookie: session.cookie },
          timeoutMs,
        });
        this.record(op, at, reply, [200]);
        if (reply.status === 401) {
          // Nobody logged this session out: its acknowledged login is lost.
          if (session.login) session.login.dropped = true;
          this.relogins += 1;
          await this.login(session);
        }
        return;
      }
      case 'inventory.reserve': {
        const sku = this.skus[this.turn % this.skus.length];
        const orderId = `o-${randomUUID()}`;
        this.reservations.set(orderId, { sku, acked: false });
        const reply = await this.client.post(
          `/api/inventory/${sku}/reservations`,
          { orderId, quantity: 1 },
          { timeoutMs },
        );
        if (this.record(op, at, reply, [201])) this.reservations.set(orderId, { sku, acked: true });
        return;
      }
      case 'leaderboard.score': {
        const playerId = `p${this.turn % PLAYERS}`;
        const score = (this.scoreCounter += 1);
        const reply = await this.client.post(
          `/api/leaderboards/${this.board}/scores`,
          { playerId, score, mode: 'best' },
          { timeoutMs },
        );
        if (this.record(op, at, reply, [200])) this.scoreAcks.push({ playerId, score, at });
        return;
      }
      case 'auth.login': {
        // A separate probe user, so the sessions the other loops use are left alone.
        await this.loginProbe();
        return;
      }
      case 'leaderboard.top': {
        this.record(
          op,
          at,
          await this.client.get(`/api/leaderboards/${this.board}/top?limit=10`, { timeoutMs }),
          [200],
        );
        return;
      }
      default:
        return;
    }
  }

  private async loop(op: Op): Promise<void> {
    while (this.running) {
      this.turn += 1;
      await this.step(op);
      // Logins are rare in real traffic (and each one creates a session).
      await sleep(op === 'auth.login' ? 250 : this.options.thinkMs);
    }
  }

  private async chatLoop(): Promise<void> {
    const sender = this.sender as ChatMember;
    let n = 0;
    while (this.running) {
      if (sender.socket.connected) {
        n += 1;
        const at = Date.now();
        const started = performance.now();
        const ack = await sender.send(this.room, `message ${n}`, `${this.tag}-${n}`);
        const ok = typeof ack.id === 'string' && !ack.error;
        if (ok) this.chatAcked.set(ack.id as string, at);
        const code = typeof ack.error === 'object' ? ack.error.code : ack.error;
        this.events.push({
          at,
          op: 'chat.send',
          ok,
          outcome: ok ? 'ack' : String(code),
          ms: performance.now() - started,
        });
      }
      await sleep(this.options.chatIntervalMs);
    }
  }

  start(): void {
    this.running = true;
    this.loops = [
      ...Array.from({ length: this.options.workers }, (_, i) => this.loop(LOOPS[i % LOOPS.length])),
      this.chatLoop(),
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
    const client = this.client;
    let reservationsLost = 0;
    const existing = new Map<string, number>();
    for (const [orderId, { sku, acked }] of this.reservations) {
      const reply = await client.get(`/api/reservations/${orderId}`);
      if (reply.status === 200) existing.set(sku, (existing.get(sku) ?? 0) + 1);
      else if (acked) reservationsLost += 1;
    }
    let stockMismatch = 0;
    for (const sku of this.skus) {
      const reply = await client.get(`/api/inventory/${sku}`);
      const stock = (reply.body as { stock?: number }).stock;
      if (stock !== INITIAL_STOCK - (existing.get(sku) ?? 0)) stockMismatch += 1;
    }

    let scoresLost = 0;
    let scoresLostBeforeKeep = 0;
    const stored = new Map<string, number>();
    for (const playerId of new Set(this.scoreAcks.map((a) => a.playerId))) {
      const reply = await client.get(`/api/leaderboards/${this.board}/players/${playerId}`);
      const score = (reply.body as { score?: number } | undefined)?.score;
      stored.set(playerId, reply.status === 200 && typeof score === 'number' ? score : -1);
    }
    // Best mode: the stored score is at least every acknowledged one.
    for (const ack of this.scoreAcks) {
      if ((stored.get(ack.playerId) ?? -1) >= ack.score) continue;
      if (ack.at >= keepFrom) scoresLost += 1;
      else scoresLostBeforeKeep += 1;
    }

    let productWritesLost = 0;
    let productWritesAcked = 0;
    for (const product of this.products) {
      const allowed = new Set([product.lastAcked, ...product.unknown]);
      productWritesAcked += product.lastAcked !== undefined ? 1 : 0;
      // Two reads: both gateway replicas, so both replicas of the cache (and their L1) answer.
      for (let i = 0; i < 2; i += 1) {
        const reply = await client.get(`/api/products/${product.id}`);
        const price = (reply.body as { priceCents?: number }).priceCents;
        if (!allowed.has(price)) {
          productWritesLost += 1;
          break;
        }
      }
    }

    const receiver = this.receiver as ChatMember;
    const deadline = Date.now() + settleMs;
    const undelivered = () =>
      [...this.chatAcked].filter(([id, at]) => at >= keepFrom && !receiver.received.has(id));
    while (undelivered().length > 0 && Date.now() < deadline) await sleep(100);
    const chatUndelivered = undelivered().length;
    const reader = new ChatMember(this.client.urls[0], `reader-${this.tag}`);
    let chatLost = 0;
    let chatLostBeforeKeep = 0;
    try {
      await reader.connected();
      await reader.join(this.room, '0-0');
      for (const [id, at] of this.chatAcked) {
        if (reader.received.has(id)) continue;
        if (at >= keepFrom) chatLost += 1;
        else chatLostBeforeKeep += 1;
      }
    } catch {
      chatLost = this.chatAcked.size;
    } finally {
      reader.close();
    }

    // Sessions: every acknowledged login not logged out since must still work, and every
    // acknowledged logout must stay logged out.
    let loginsLost = 0;
    let loginsLostBeforeKeep = 0;
    let logoutsReverted = 0;
    let sessionsUnverified = 0;
    for (const login of this.logins) {
      if (login.state === 'unknown') continue;
      const status =
        login.dropped && login.state === 'in' ? 401 : await this.sessionStatus(login.cookie);
      if (status !== 200 && status !== 401) sessionsUnverified += 1;
      else if (login.state === 'in' && status === 401) {
        if (login.at >= keepFrom) loginsLost += 1;
        else loginsLostBeforeKeep += 1;
      } else if (login.state === 'out' && status === 200) logoutsReverted += 1;
    }

    return {
      loginsAcked: this.logins.filter((l) => l.state === 'in').length,
      loginsLost,
      loginsLostBeforeKeep,
      logoutsAcked: this.logins.filter((l) => l.state === 'out').length,
      logoutsReverted,
      sessionsUnverified,
      productReadbacks: this.productReadbacks,
      productStaleReads: this.productStaleAt.length,
      productStaleAt: [...this.productStaleAt],
      reservationsAcked: [...this.reservations.values()].filter((r) => r.acked).length,
      reservationsLost,
      stockMismatch,
      scoresAcked: this.scoreAcks.length,
      scoresLost,
      scoresLostBeforeKeep,
      productWritesAcked,
      productWritesLost,
      chatAcked: this.chatAcked.size,
      chatLost,
      chatLostBeforeKeep,
      chatUndelivered,
      chatDuplicates: receiver.duplicates,
      chatServerDisconnects:
        receiver.serverDisconnects + (this.sender as ChatMember).serverDisconnects,
    };
  }

  close(): void {
    this.sender?.close();
    this.receiver?.close();
  }
}
