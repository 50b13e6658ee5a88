// No service ever prints a secret: for every secret-bearing variable of every service (URLs,
// which may carry credentials, and secret-named ones), the built process is started with a
// value holding a marker password, malformed and well-formed, and nothing it prints in the next
// seconds contains the marker. A malformed value must also stop it with exit code 1 and a line
// naming the variable, so the test knows that variable was the one checked.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICES as SERVICE_TABLE } from '../../dev/services';

const ROOT = join(__dirname, '..', '..', '..');
const MARKER = 'SECRETPASS';
const SERVICES = SERVICE_TABLE.map((service) => service.name);
const SECRET_BEARING = /(_URLS?$|SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE|CREDENTIAL)/;
/** Knobs about secrets rather than secrets (numbers and sizes). */
const NOT_A_SECRET = /^PASSWORD_(HASH|SCRYPT)_/;

interface Schema {
  properties: Record<string, { type?: string; anyOf?: { type?: string }[] }>;
}

/** A configuration every service accepts: dependencies on closed ports, nothing secret. */
const BASE_ENV: Record<string, string> = {
  NODE_ENV: 'development',
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  REDIS_URL: 'redis://127.0.0.1:1',
  DATABASE_URL: 'postgres://app:app@127.0.0.1:1/app',
  SESSION_SECRET: 'a-long-enough-test-session-secret-0123456789',
};

function secretVariables(service: string): string[] {
  // The built schema, the one the process validates against.
  const { envSchema } = createRequire(__filename)(
    join(ROOT, 'apps', service, 'dist', 'config.js'),
  ) as {
    envSchema: Schema;
  };
  return Object.keys(envSchema.properties).filter(
    (name) => SECRET_BEARING.test(name) && !NOT_A_SECRET.test(name),
  );
}

const scratch = mkdtempSync(join(tmpdir(), 'config-secrets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;
/** A file holding `text`, for the *_FILE variables. */
function secretFile(text: string): string {
  const path = join(scratch, `secret-${++files}.json`);
  writeFileSync(path, text);
  return path;
}

/** Values holding the marker: [value, malformed?]. */
function valuesFor(name: string): [string, boolean][] {
  if (/_URLS$/.test(name))
    return [
      [`redis://u:${MARKER}@127.0.0.1:1,not a url ${MARKER}`, true],
      [
        `redis://u:${MARKER}@127.0.0.1:1,redis://u:${MARKER}@127.0.0.1:2,redis://u:${MARKER}@127.0.0.1:3`,
        false,
      ],
    ];
  if (/_URL$/.test(name))
    return [
      [`mysql://u:${MARKER}@h/x`, true],
      [`http://u:${MARKER}@[bad`, true],
      [
        name.startsWith('REDIS')
          ? `redis://u:${MARKER}@127.0.0.1:1`
          : name === 'DATABASE_URL'
            ? `postgres://u:${MARKER}@127.0.0.1:1/app`
            : `http://u:${MARKER}@127.0.0.1:1`,
        false,
      ],
    ];
  // A file path is not a secret (naming it helps); the file's contents are.
  if (/_FILE$/.test(name)) return [[secretFile(`{"keys":[{"sha256":"${MARKER}" ${MARKER}`), true]];
  if (/API_KEYS$/.test(name)) return [[`{"keys":[{"sha256":"${MARKER}"`, true]];
  return [[MARKER, true]];
}

function run(service: string, env: Record<string, string>, ms: number) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'apps', service, 'dist', 'server.js')], {
      env: { PATH: process.env.PATH ?? '', ...BASE_ENV, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe.each(SERVICES)('%s never prints a secret', (service) => {
  const built = existsSync(join(ROOT, 'apps', service, 'dist', 'config.js'));

  it('is built (npm run build), so its real configuration is what is checked', () => {
    expect(built).toBe(true);
  });

  const variables = built ? secretVariables(service) : [];
  const cases = variables.flatMap((name) =>
    valuesFor(name).map(([value, malformed]) => ({ name, value, malformed })),
  );

  it('has secret-bearing variables to check', () => {
    expect(variables.length).toBeGreaterThan(0);
  });

  it.each(cases)(
    '$name = <value with a password>, malformed: $malformed',
    async (c) => {
      const { code, output } = await run(
        service,
        { [c.name]: c.value },
        c.malformed ? 10_000 : 4_000,
      );
      expect(output).not.toContain(MARKER);
      if (c.malformed) {
        expect(code).toBe(1);
        expect(output).toContain(c.name);
      }
    },
    20_000,
  );
});
