import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadConfig } from '@redis-patterns/service-kit';
import { parse } from 'yaml';
import { isDeployableApp, serviceEnv } from './repo';

const load = createRequire(__filename);

interface LintItem {
  line: number;
  title: string;
  description: string;
}

/** Lints a Dockerfile with dockerfilelint (npm, offline). Returns one message per issue. */
export function dockerfileProblems(text: string): string[] {
  const { run } = load('dockerfilelint') as {
    run: (context: string, content: string) => LintItem[];
  };
  return run(__dirname, text).map(
    (item) => `line ${item.line}: ${item.title}: ${item.description}`,
  );
}

/**
 * Validates a compose file with `docker-compose config -q` (Debian's docker-compose, offline). A
 * missing binary is an error naming the package, never a skip.
 */
export function composeConfigProblems(file: string, binary = 'docker-compose'): string[] {
  const result = spawnSync(binary, ['-f', file, 'config', '-q'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(
      `${binary} is not installed, so docker/compose.yaml cannot be validated: install it ` +
        '(Debian: apt-get install docker-compose; .ci/run does this on CI)',
    );
  }
  if (result.error) throw result.error;
  return result.status === 0 ? [] : [result.stderr.trim() || `exit code ${result.status}`];
}

interface ComposeService {
  build?: { args?: Record<string, string> | string[] };
  environment?: Record<string, string | number | boolean | null> | string[];
  image?: string;
}

function asRecord(value: Record<string, unknown> | string[] | undefined): Record<string, unknown> {
  if (!Array.isArray(value)) return value ?? {};
  return Object.fromEntries(
    value.map((entry) => [entry.split('=')[0], entry.split('=').slice(1).join('=')]),
  );
}

/**
 * Every compose service built from the Dockerfile names a real app in its APP build argument, and
 * sets only variables that app's envSchema knows, with values the service accepts at boot.
 */
export function composeContractProblems(text: string): string[] {
  const compose = parse(text, { merge: true }) as { services?: Record<string, ComposeService> };
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services ?? {})) {
    if (!service.build) continue;
    const app = asRecord(service.build.args).APP;
    if (typeof app !== 'string' || !isDeployableApp(app)) {
      problems.push(`compose service ${name}: APP ${String(app)} names no app with a build script`);
      continue;
    }
    const { known, schema, configFromEnv } = serviceEnv(app);
    const environment = asRecord(service.environment as Record<string, unknown>);
    for (const variable of Object.keys(environment)) {
      if (!known.has(variable)) {
        problems.push(
          `compose service ${name}: ${variable} is not a variable of ${app}'s envSchema`,
        );
      }
    }
    const values = Object.fromEntries(
      Object.entries(environment)
        .filter(([variable, value]) => known.has(variable) && value !== null)
        .map(([variable, value]) => [variable, String(value)]),
    );
    try {
      configFromEnv?.(loadConfig(schema as unknown as Parameters<typeof loadConfig>[0], values));
    } catch (error) {
      problems.push(`compose service ${name}: ${(error as Error).message}`);
    }
  }
  return problems;
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}
