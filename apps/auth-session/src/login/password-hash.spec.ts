import { hashPassword, parsePasswordHash, scryptParams, verifyPassword } from './password-hash';

describe('password hashing (scrypt)', () => {
  const params = scryptParams(1024);

  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await hashPassword('correct horse', params);
    await expect(verifyPassword('correct horse', stored)).resolves.toBe(true);
    await expect(verifyPassword('correct horsE', stored)).resolves.toBe(false);
  });

  it('salts every hash and stores its parameters', async () => {
    const one = await hashPassword('same password', params);
    const two = await hashPassword('same password', params);
    expect(one).not.toBe(two);
    expect(parsePasswordHash(one)?.params).toEqual({ N: 1024, r: 8, p: 1 });
    expect(one.startsWith('scrypt$1024$8$1$')).toBe(true);
  });

  it('never matches a malformed stored hash', async () => {
    await expect(verifyPassword('x', 'plain-text')).resolves.toBe(false);
    await expect(verifyPassword('x', 'scrypt$a$b$c$d$e')).resolves.toBe(false);
  });

  it('accepts only powers of two as the cost', () => {
    expect(() => scryptParams(1000)).toThrow(/power of two/);
    expect(scryptParams(32768).N).toBe(32768);
  });
});
