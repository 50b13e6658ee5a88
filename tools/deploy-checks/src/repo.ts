import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/** The monorepo's root. */
export const repoRoot = resolve(__dirname, '..', '..', '..');

/** What a service's `envSchema` (TypeBox object) tells about its variables. */
export interface ServiceEnv {
  /** Every variable the service reads. */
  known: Set<string>;
  /** Variables without a default that the schema does not mark optional. */
  required: Set<string>;
  /** Default value of each variable that has one. */
  defaults: Map<string, unknown>;
  /** The TypeBox schema itself, to validate values with. */
  schema: EnvSchema;
  /** The service's own cross-field checks (e.g. a secret required outside development). */
  configFromEnv?: (env: Record<string, unknown>) => unknown;
}

export interface EnvSchema {
  type: 'object';
  properties: Record<string, { default?: unknown }>;
  required?: string[];
}

/** Apps that deploy: a folder under apps/ whose package.json has a `build` script. */
export function deployableApps(root = repoRoot): string[] {
  return readdirSync(join(root, 'apps'))
    .filter((name) => isDeployableApp(name, root))
    .sort();
}

export function isDeployableApp(name: string, root = repoRoot): boolean {
  const manifest = join(root, 'apps', name, 'package.json');
  if (!/^[a-z0-9-]+$/.test(name) || !existsSync(manifest)) return false;
  const scripts = (JSON.parse(readFileSync(manifest, 'utf8')) as { scripts?: object }).scripts;
  return typeof (scripts as Record<string, unknown> | undefined)?.build === 'string';
}

const load = createRequire(__filename);

/** Reads `envSchema` from apps/<app>/src/config.ts as it is now (other engineers edit it). */
export function serviceEnv(app: string, root = repoRoot): ServiceEnv {
  const { envSchema: schema, configFromEnv } = load(join(root, 'apps', app, 'src', 'config')) as {
    envSchema: EnvSchema;
    configFromEnv?: ServiceEnv['configFromEnv'];
  };
  const defaults = new Map<string, unknown>();
  for (const [name, property] of Object.entries(schema.properties)) {
    if (property.default !== undefined) defaults.set(name, property.default);
  }
  const required = new Set((schema.required ?? []).filter((name) => !defaults.has(name)));
  return {
    known: new Set(Object.keys(schema.properties)),
    required,
    defaults,
    schema,
    configFromEnv,
  };
}
