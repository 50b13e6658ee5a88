import { topologiesUnderTest } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, newUsername } from './auth-harness';

// Guarantee: a username is unique whatever its letter case, on every replica; invalid input is
// refused naming its field.
const database = databaseFixture();

describe.each(topologiesUnderTest())('registration across two replicas on %s', (kind) => {
  const suite = authFixture(kind, database, 2);

  it('creates a user, and refuses the same name in another letter case', async () => {
    const [a, b] = suite().urls;
    const username = newUsername();
    const created = await call(a, 'POST', '/auth/register', {
      body: { username, password: 'password-1' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), username });
    const again = await call(b, 'POST', '/auth/register', {
      body: { username: username.toUpperCase(), password: 'password-2' },
    });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ statusCode: 409, code: 'USERNAME_TAKEN' });
  });

  it('names the field that is invalid', async () => {
    const [a] = suite().urls;
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ username: 'ab', password: 'password-1' }, /username/],
      [{ username: 'a'.repeat(33), password: 'password-1' }, /username/],
      [{ username: 'bad name!', password: 'password-1' }, /username/],
      [{ username: newUsername(), password: 'short' }, /password/],
      [{ username: newUsername(), password: 'p'.repeat(129) }, /password/],
      [{ username: newUsername() }, /password/],
    ];
    for (const [body, field] of cases) {
      const answer = await call(a, 'POST', '/auth/register', { body });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: 'VALIDATION_ERROR' });
      expect(String(answer.body.message)).toMatch(field);
    }
  });
});
