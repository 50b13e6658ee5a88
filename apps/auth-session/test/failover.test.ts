import {
  log,
  perFileFixture,
  startTopology,
  replicatedTopologiesUnderTest,
  until,
  MASTER_FAULTS,
  type MasterFault,
} from '@redis-patterns/testkit';
import {
  call,
  callPast503,
  databaseFixture,
  newUsername,
  startAuthReplicas,
  TEST_LOGIN,
} from './auth-harness';

/** A request every 20 ms, logins and logouts alternating, on both replicas (about 50 a second). */
const LOAD_INTERVAL_MS = 20;
const MAX_IN_FLIGHT = 10;
const USERS = 8;
/** Sessions logged in before each fault's load, so logouts keep running through the fault. */
const BACKLOG = 150;
/** Load before the fault, and after recovery (both also wait for acknowledged writes). */
const LOAD_BEFORE_MS = 1000;
const LOAD_AFTER_MS = 2000;
const PASSWORD = 'correct horse battery';

/** A logged-in session of the load: its cookie and the replica that logged it in. */
interface Session {
  cookie: string;
  replica: number;
}

interface Attempt {
  op: 'login' | 'logout';
  status: number | 'network error';
  code?: string;
  at: number;
}

/**
 * A steady light load across both replicas: odd ticks log out the oldest session waiting for
 * it (created before the load or by it) on the replica that did not log it in, even ticks log
 * in; every other acknowledged login is kept, the others wait for their logout. So logouts of
 * sessions acknowledged long ago keep running through the fault, not only right after a login.
 */
function startLoad(urls: string[], users: string[], backlog: Session[]) {
  const attempts: Attempt[] = [];
  const waiting = [...backlog];
  const kept: Session[] = [];
  const revoked: Session[] = [];
  const inFlight = new Set<Promise<void>>();
  let ticks = 0;
  let logins = 0;
  const record = async (op: Attempt['op'], run: () => ReturnType<typeof call>) => {
    try {
      const answer = await run();
      attempts.push({
        op,
        status: answer.status,
        code: answer.body.code as string,
        at: Date.now(),
      });
      return answer;
    } catch {
      attempts.push({ op, status: 'network error', at: Date.now() });
      return undefined;
    }
  };
  const login = async (n: number) => {
    const replica = n % 2;
    const body = { username: users[n % users.length], password: PASSWORD };
    const answer = await record('login', () =>
      call(urls[replica], 'POST', '/auth/login', { body }),
    );
    if (answer?.status !== 200 || !answer.cookie) return;
    logins += 1;
    (logins % 2 === 0 ? kept : waiting).push({ cookie: answer.cookie, replica });
  };
  const logout = async (session: Session) => {
    const other = urls[(session.replica + 1) % 2];
    const answer = await record('logout', () =>
      call(other, 'POST', '/auth/logout', { cookie: session.cookie }),
    );
    // A logout that answered 503 may or may not have happened: neither outcome is promised.
    if (answer?.status === 204) revoked.push(session);
  };
  const timer = setInterval(() => {
    if (inFlight.size >= MAX_IN_FLIGHT) return;
    const n = ticks++;
    const next = n % 2 === 1 ? waiting.shift() : undefined;
    const running = (next ? logout(next) : login(n)).finally(() => inFlight.delete(running));
    inFlight.add(running);
  }, LOAD_INTERVAL_MS);
  return {
    attempts,
    kept,
    revoked,
    stop: async () => {
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.all(inFlight);
      // Sessions still waiting for a logout were acknowledged logins: they must work too.
      kept.push(...waiting.splice(0));
    },
  };
}

/** `count` acknowledged logins made before the load, alternating replicas. */
async function loginBacklog(urls: string[], users: string[], count: number): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let n = 0; n < count; n += 1) {
    const replica = n % 2;
    const body = { username: users[n % users.length], password: PASSWORD };
    // Setup, not the property: a 503 left over from the previous fault (or a busy hash slot)
    // is retried, as a client following Retry-After would.
    const answer = await callPast503(
      'a backlog login',
      () => call(urls[replica], 'POST', '/auth/login', { body }),
      10_000,
    );
    if (answer.status !== 200 || !answer.cookie) throw new Error(`login: ${answer.status}`);
    sessions.push({ cookie: answer.cookie, replica });
  }
  return sessions;
}

/** What a session answers once Redis has converged: 200 or 401 (a 503 is waited out). */
async function settledStatus(url: string, cookie: string): Promise<number> {
  return until(
    'a settled answer for a session',
    async () => {
      const { status } = await call(url, 'GET', '/auth/me', { cookie });
      return status === 503 ? undefined : status;
    },
    10_000,
  );
}

const replicated = replicatedTopologiesUnderTest();

const database = databaseFixture();

{
  describe.each(replicated)('auth-session failovers on %s, 2 replicas under load', (kind) => {
    const users: string[] = [];
    const suite = perFileFixture(async (cleanup) => {
      const topology = await startTopology(kind);
      cleanup(() => topology.stop());
      // 8 users logging in every 20 ms from one address: while Redis stalls, more than 5
      // logins of one user are in flight at once, and in-flight attempts count against the
      // lockout (by design, test/login-flood.test.ts); this suite is about durability.
      const replicas = await startAuthReplicas(topology, database().url, 2, () => ({
        login: { ...TEST_LOGIN, maxFailures: 1000, maxFailuresPerUser: 1000 },
      }));
      cleanup(() => replicas.close());
      for (let i = 0; i < USERS; i += 1) {
        const username = newUsername();
        const registered = await call(replicas.url(i), 'POST', '/auth/register', {
          body: { username, password: PASSWORD },
        });
        if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
        users.push(username);
      }
      return { topology, replicas };
    });

    it.each(MASTER_FAULTS.map((fault, i) => [fault.name, i] as const))(
      'through %s: acknowledged logouts stay revoked, acknowledged logins work, failures are 503',
      async (_, index) => {
        const fault = MASTER_FAULTS[index];
        const { topology, replicas } = suite();
        const backlog = await loginBacklog(replicas.urls, users, BACKLOG);
        const load = startLoad(replicas.urls, users, backlog);
        const loadAt = Date.now();
        let faultAt = 0;
        let result: Awaited<ReturnType<MasterFault['inject']>>;
        let recoveredAt = 0;
        try {
          await until(
            'a second of load with acknowledged logins and logouts before the fault',
            async () =>
              Date.now() - loadAt >= LOAD_BEFORE_MS &&
              load.kept.length > 0 &&
              load.revoked.length > 0
                ? true
                : undefined,
            20_000,
          );
          faultAt = Date.now();
          result = await fault.inject(topology);
          await result.recover();
          recoveredAt = Date.now();
          await until(
            'load with acknowledged logouts after recovery',
            async () =>
              Date.now() - recoveredAt >= LOAD_AFTER_MS &&
              load.attempts.some((a) => a.op === 'logout' && a.status === 204 && a.at > recoveredAt)
                ? true
                : undefined,
            20_000,
          );
        } finally {
          // Also when a wait above fails: a load left running keeps Jest from exiting.
          await load.stop();
        }

        const { attempts, kept, revoked } = load;
        const failed = attempts.filter((a) => a.status !== 200 && a.status !== 204);
        const dishonest = failed.filter(
          (a) =>
            a.status !== 503 ||
            // PASSWORD_HASHING_BUSY: a login refused while this process's hash slots are full.
            !['SESSION_STORE_UNAVAILABLE', 'LOCKOUT_UNAVAILABLE', 'PASSWORD_HASHING_BUSY'].includes(
              a.code ?? '',
            ),
        );
        // Read back on the replica that did not make the write, once Redis has converged.
        let lostLogins = 0;
        for (const session of kept) {
          const status = await settledStatus(replicas.url(session.replica + 1), session.cookie);
          if (status !== 200) lostLogins += 1;
        }
        let undoneLogouts = 0;
        for (const session of revoked) {
          if ((await settledStatus(replicas.url(session.replica), session.cookie)) !== 401)
            undoneLogouts += 1;
        }
        const count = (op: Attempt['op']) => attempts.filter((a) => a.op === op).length;
        const codes = [...new Set(failed.map((a) => a.code ?? a.status))].join(', ') || 'none';
        const failedAt = failed.map((a) => a.at - faultAt);
        log(
          `auth-session ${kind}, ${fault.name}: sent ${attempts.length} (logins ${count('login')}, logouts ${count('logout')}), ` +
            `failed ${failed.length} (${codes}), acknowledged: logins kept ${kept.length}, logouts ${revoked.length}; ` +
            `acknowledged-and-lost ${lostLogins + undoneLogouts} (logins lost ${lostLogins}, logouts undone ${undoneLogouts}); ` +
            `promoted in ${result.promotedMs} ms, converged in ${recoveredAt - faultAt} ms` +
            (failed.length
              ? `, failures from +${Math.min(...failedAt)} to +${Math.max(...failedAt)} ms`
              : ''),
        );
        expect(dishonest).toEqual([]);
        expect({ lostLogins, undoneLogouts }).toEqual({ lostLogins: 0, undoneLogouts: 0 });
      },
      120_000,
    );
  });
}
