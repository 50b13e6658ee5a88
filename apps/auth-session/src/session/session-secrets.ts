/** Shortest accepted secret (256 bits of ASCII at best); a shorter one is refused, naming the variable. */
export const MIN_SECRET_LENGTH = 32;

/**
 * Parses `SESSION_SECRET`: a comma list, newest first. The first secret signs new cookies; every
 * one verifies, so a secret can be rotated without logging anybody out.
 */
export function parseSessionSecrets(value: string): string[] {
  const secrets = value
    .split(',')
    .map((secret) => secret.trim())
    .filter(Boolean);
  if (secrets.length === 0) throw new Error('SESSION_SECRET must list at least one secret');
  const short = secrets.findIndex((secret) => secret.length < MIN_SECRET_LENGTH);
  if (short >= 0) {
    throw new Error(
      `SESSION_SECRET: secret #${short + 1} is ${secrets[short].length} characters, at least ${MIN_SECRET_LENGTH} are required`,
    );
  }
  return secrets;
}
