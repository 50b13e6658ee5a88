import { randomBytes } from 'node:crypto';

/** A random key prefix per test, so tests share a Redis without flushing it (BullMQ's way). */
export function uniquePrefix(name = 't'): string {
  return `${name}-${randomBytes(5).toString('hex')}`;
}
