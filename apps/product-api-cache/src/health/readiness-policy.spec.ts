import { isReady } from './readiness-policy';

const up = async () => true;
const down = async () => false;
const broken = async (): Promise<boolean> => {
  throw new Error('connection refused');
};

describe('readiness policy', () => {
  it('either: ready while one of them serves, unready only when both are away', async () => {
    expect(await isReady('either', { redis: up, database: up })).toBe(true);
    expect(await isReady('either', { redis: up, database: down })).toBe(true);
    expect(await isReady('either', { redis: down, database: up })).toBe(true);
    expect(await isReady('either', { redis: broken, database: broken })).toBe(false);
    expect(await isReady('either', { redis: down, database: down })).toBe(false);
  });

  it('either: PostgreSQL is not probed while Redis answers', async () => {
    const database = jest.fn(up);
    expect(await isReady('either', { redis: up, database })).toBe(true);
    expect(database).not.toHaveBeenCalled();
  });

  it('without the cache, readiness follows PostgreSQL', async () => {
    expect(await isReady('either', { database: up })).toBe(true);
    expect(await isReady('either', { database: down })).toBe(false);
    expect(await isReady('both', { database: down })).toBe(false);
  });

  it('database and both, as configured', async () => {
    expect(await isReady('database', { redis: up, database: down })).toBe(false);
    expect(await isReady('database', { redis: down, database: up })).toBe(true);
    expect(await isReady('both', { redis: up, database: down })).toBe(false);
    expect(await isReady('both', { redis: broken, database: up })).toBe(false);
    expect(await isReady('both', { redis: up, database: up })).toBe(true);
  });
});
