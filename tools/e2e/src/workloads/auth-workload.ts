// auth-session's share of the mixed load: three users check their sessions (`GET /auth/me`), and a
// probe user logs in and, every other time, out again. Afterwards every session of an
// acknowledged login must still answer 200, and every session of an acknowledged logout 401.
import { delay } from '@redis-patterns/testkit';
import { cookieOf } from '../gateway-client';
import { expectStatus, type Op } from './load-events';
import type { VerifyWindow, Workload, WorkloadContext } from './workload';

export interface AuthVerification {
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
}

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

/** Users: the first three check their sessions, the last is the login probe. */
const USERS = 4;
/** Logins are rare in real traffic (and each one creates a session). */
const LOGIN_PAUSE_MS = 250;

export class AuthWorkload implements Workload<AuthVerification> {
  readonly ops: readonly Op[] = ['auth.me', 'auth.login'];
  private readonly sessions: Session[] = [];
  private readonly logins: LoginAck[] = [];
  private loginCount = 0;
  /** Sessions are Redis-only; a drill that empties Redis may log them out (documented). */
  relogins = 0;

  constructor(private readonly context: WorkloadContext) {}

  pauseAfter(op: Op): number | undefined {
    return op === 'auth.login' ? LOGIN_PAUSE_MS : undefined;
  }

  async setup(): Promise<void> {
    const { client, tag } = this.context;
    for (let i = 0; i < USERS; i += 1) {
      const username = `drill_${tag}_${i}`;
      const password = `password-${tag}`;
      expectStatus(
        await client.post('/api/auth/register', { username, password }),
        201,
        'register',
      );
      this.sessions.push({ username, password, cookie: '' });
      await this.login(this.sessions[i]);
    }
  }

  async step(op: Op, turn: number): Promise<void> {
    // A separate probe user, so the sessions the other loop uses are left alone.
    if (op === 'auth.login') return this.loginProbe();
    const at = Date.now();
    const session = this.sessions[turn % (this.sessions.length - 1)];
    const reply = await this.context.client.get('/api/auth/me', {
      headers: { cookie: session.cookie },
      timeoutMs: this.context.timeoutMs,
    });
    this.context.events.record(op, at, reply, [200]);
    if (reply.status === 401) {
      // Nobody logged this session out: its acknowledged login is lost.
      if (session.login) session.login.dropped = true;
      this.relogins += 1;
      await this.login(session);
    }
  }

  private async login(session: Session): Promise<boolean> {
    const at = Date.now();
    const reply = await this.context.client.post(
      '/api/auth/login',
      { username: session.username, password: session.password },
      { timeoutMs: this.context.timeoutMs },
    );
    this.context.events.record('auth.login', at, reply, [200]);
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
    const reply = await this.context.client.post(
      '/api/auth/logout',
      {},
      { headers: { cookie: login.cookie }, timeoutMs: this.context.timeoutMs },
    );
    if (this.context.events.record('auth.logout', at, reply, [204])) {
      login.state = 'out';
      login.outAt = at;
    } else {
      login.state = 'unknown';
    }
  }

  /** `GET /auth/me` with a cookie until it answers 200 or 401 (at most 5 tries, 200 ms apart). */
  private async sessionStatus(cookie: string): Promise<number> {
    let status = 0;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      status = (await this.context.client.get('/api/auth/me', { headers: { cookie } })).status;
      if (status === 200 || status === 401) return status;
      await delay(200);
    }
    return status;
  }

  /**
   * Every acknowledged login not logged out since must still work, and every acknowledged logout
   * must stay logged out.
   */
  async verify({ keepFrom }: VerifyWindow): Promise<AuthVerification> {
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
    };
  }
}
