import { perFileFixture, topologiesUnderTest } from '@redis-patterns/testkit';
import {
  authFixture,
  call,
  databaseFixture,
  newUsername,
  registerAndLogin,
  startAuthReplicas,
  TEST_LOGIN,
} from './auth-harness';

// Guarantee: a login of a username that does not exist gets the same answer as a wrong
// password, and costs a password hash too, so neither the answer nor its time tells which
// names exist.
const database = databaseFixture();

describe.each(topologiesUnderTest())('unknown users on %s', (kind) => {
  const suite = authFixture(kind, database, 2);

  it('answers wrong credentials the same way whether or not the user exists', async () => {
    const [a] = suite().urls;
    const { username } = await registerAndLogin(a);
    const wrongPassword = await call(a, 'POST', '/auth/login', {
      body: { username, password: 'wrong password' },
    });
    const unknownUser = await call(a, 'POST', '/auth/login', {
      body: { username: newUsername(), password: 'wrong password' },
    });
    expect(wrongPassword.status).toBe(401);
    expect(unknownUser.status).toBe(401);
    expect(unknownUser.body).toEqual(wrongPassword.body);
    expect(wrongPassword.body).toMatchObject({ code: 'INVALID_CREDENTIALS' });
  });

  describe('timing of wrong credentials', () => {
    // One more replica, with a realistic hash, on the suite's topology.
    const slow = perFileFixture(async (cleanup) => {
      const replicas = await startAuthReplicas(suite().topology, database().url, 1, () => ({
        login: { ...TEST_LOGIN, maxFailures: 100, scryptCost: 16384 },
      }));
      cleanup(() => replicas.close());
      return replicas;
    });

    it('spends a password hash on unknown users too', async () => {
      const url = slow().url(0);
      const { username } = await registerAndLogin(url);
      const median = async (name: string) => {
        const times: number[] = [];
        for (let i = 0; i < 5; i += 1) {
          const answer = await call(url, 'POST', '/auth/login', {
            body: { username: name, password: 'wrong password' },
          });
          expect(answer.status).toBe(401);
          times.push(answer.ms);
        }
        return times.sort((x, y) => x - y)[2];
      };
      const known = await median(username);
      const unknown = await median(newUsername());
      // Without the dummy hash an unknown name answers in a fraction of a millisecond of work.
      expect(unknown).toBeGreaterThan(known * 0.4);
    });
  });
});
