import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt parameters stored with each hash, so the cost can be raised without a migration. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. Memory used is 128 * N * r bytes (32 MiB at the default). */
  N: number;
  /** Block size. @default 8 */
  r: number;
  /** Parallelization. @default 1 */
  p: number;
}

const KEY_LENGTH = 64;
const SALT_LENGTH = 16;
const PREFIX = 'scrypt';

export function scryptParams(cost: number): ScryptParams {
  if (!Number.isInteger(cost) || cost < 2 || (cost & (cost - 1)) !== 0) {
    throw new Error(`PASSWORD_SCRYPT_COST must be a power of two, got ${cost}`);
  }
  return { N: cost, r: 8, p: 1 };
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // Node's own limit (32 MiB) is exactly 128*N*r at N=32768; leave room so the cost can rise.
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** `scrypt$N$r$p$salt$hash` (base64), the parameters kept next to the hash they made. */
export async function hashPassword(password: string, params: ScryptParams): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, params);
  return [
    PREFIX,
    params.N,
    params.r,
    params.p,
    salt.toString('base64'),
    key.toString('base64'),
  ].join('$');
}

/** Parses a stored hash; undefined when it is not one of ours. */
export function parsePasswordHash(
  stored: string,
): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return undefined;
  return {
    params: { N, r, p },
    salt: Buffer.from(parts[4], 'base64'),
    key: Buffer.from(parts[5], 'base64'),
  };
}

/** Constant-time comparison of the derived key; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}
