import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json';
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

type ComposeSchemaValidator = ValidateFunction & { errors?: ErrorObject[] | null };
let composeSchema: ComposeSchemaValidator | undefined;

/** The Compose Specification's JSON schema (vendored, see schemas/README.md), compiled once. */
function composeValidator(): ComposeSchemaValidator {
  if (composeSchema) return composeSchema;
  // strictTypes off: the specification's schema leaves `type` implicit beside keywords.
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  // The schema names draft-07 by its https URI, Ajv's copy of the meta-schema by the http one.
  ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
  composeSchema = ajv.compile(
    JSON.parse(readFileSync(join(__dirname, '..', 'schemas', 'compose-spec.json'), 'utf8')),
  );
  return composeSchema;
}

/**
 * One line per schema error. Where a `oneOf` failed, only the branch that came closest speaks:
 * the `oneOf` itself and the other branch's type mismatch at the same path are dropped when an
 * error deeper down explains the failure.
 */
function schemaErrorLines(errors: ErrorObject[]): string[] {
  const deeper = (error: ErrorObject) =>
    errors.some((other) => other.instancePath.startsWith(`${error.instancePath}/`));
  const lines = errors
    .filter(
      (error) =>
        !(['oneOf', 'anyOf'].includes(error.keyword) || error.keyword === 'type') || !deeper(error),
    )
    .map((error) => {
      const params = error.params as { additionalProperty?: string; allowedValues?: unknown[] };
      const detail = params.additionalProperty
        ? ` ("${params.additionalProperty}")`
        : params.allowedValues
          ? ` (${params.allowedValues.join(', ')})`
          : '';
      return `compose ${error.instancePath || '/'}: ${error.message}${detail}`;
    });
  return [...new Set(lines)];
}

interface ComposeFile {
  services?: Record<string, ComposeReferences>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
  secrets?: Record<string, unknown>;
  configs?: Record<string, unknown>;
}

interface ComposeReferences {
  build?: string | { context?: string; dockerfile?: string };
  depends_on?: string[] | Record<string, unknown>;
  volumes?: (string | { type?: string; source?: string })[];
  networks?: string[] | Record<string, unknown>;
  env_file?: string | (string | { path: string })[];
  secrets?: (string | { source: string })[];
  configs?: (string | { source: string })[];
}

/** What the schema cannot see and `docker compose config` refuses: dangling names and paths. */
function composeReferenceProblems(compose: ComposeFile, dir: string): string[] {
  const problems: string[] = [];
  const services = compose.services ?? {};
  const declared = (section: keyof ComposeFile) => new Set(Object.keys(compose[section] ?? {}));
  const names = (value: string[] | Record<string, unknown> | undefined) =>
    Array.isArray(value) ? value : Object.keys(value ?? {});
  const sources = (value: (string | { source: string })[] | undefined) =>
    (value ?? []).map((entry) => (typeof entry === 'string' ? entry : entry.source));
  const mustExist = (where: string, path: string) => {
    if (!existsSync(resolve(dir, path))) problems.push(`${where}: ${path} does not exist`);
  };
  for (const [name, service] of Object.entries(services)) {
    const where = `compose service ${name}`;
    for (const target of names(service.depends_on)) {
      if (!(target in services)) problems.push(`${where}: depends_on ${target}, no such service`);
    }
    for (const network of names(service.networks)) {
      if (network !== 'default' && !declared('networks').has(network))
        problems.push(`${where}: network ${network} is not declared under networks`);
    }
    for (const [section, used] of [
      ['secrets', sources(service.secrets)],
      ['configs', sources(service.configs)],
    ] as const) {
      for (const entry of used) {
        if (!declared(section).has(entry))
          problems.push(
            `${where}: ${section.slice(0, -1)} ${entry} is not declared under ${section}`,
          );
      }
    }
    for (const volume of service.volumes ?? []) {
      // Short syntax `source:target[:mode]`; a bare `target` is an anonymous volume.
      const source =
        typeof volume === 'string'
          ? volume.includes(':')
            ? volume.split(':')[0]
            : undefined
          : volume.type === 'tmpfs'
            ? undefined
            : volume.source;
      if (!source) continue;
      if (/^[./~]/.test(source)) mustExist(`${where} volume`, source);
      else if (!declared('volumes').has(source))
        problems.push(`${where}: volume ${source} is not declared under volumes`);
    }
    const envFiles =
      typeof service.env_file === 'string' ? [service.env_file] : (service.env_file ?? []);
    for (const file of envFiles)
      mustExist(`${where} env_file`, typeof file === 'string' ? file : file.path);
    if (service.build !== undefined) {
      const build = typeof service.build === 'string' ? { context: service.build } : service.build;
      const context = build.context ?? '.';
      mustExist(`${where} build context`, context);
      mustExist(`${where} build dockerfile`, join(context, build.dockerfile ?? 'Dockerfile'));
    }
  }
  return problems;
}

/**
 * Validates a compose file offline the way `docker compose config` would, without the binary:
 * YAML (merge keys resolved) against the Compose Specification's JSON schema, then the
 * references the schema cannot check (depends_on targets, declared volumes, networks, secrets
 * and configs, and that build contexts, Dockerfiles, env files and bind-mount sources exist).
 * Returns one message per problem, empty when valid.
 */
export function composeConfigProblems(file: string): string[] {
  let compose: unknown;
  try {
    compose = parse(readFileSync(file, 'utf8'), { merge: true, prettyErrors: true });
  } catch (error) {
    return [`compose ${file}: ${(error as Error).message}`];
  }
  const validate = composeValidator();
  if (!validate(compose)) return schemaErrorLines(validate.errors ?? []);
  return composeReferenceProblems(compose as ComposeFile, dirname(file));
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
    const environment = asRecord(service.environment);
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
