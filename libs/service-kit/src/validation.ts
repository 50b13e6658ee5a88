import { AjvCompiler } from '@fastify/ajv-compiler';
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify';

const AJV_OPTIONS = { removeAdditional: false, useDefaults: true } as const;

/**
 * Fastify's schema controller with two validators: querystring, params and headers are text on
 * the wire, so they are coerced (`?limit=10` is the integer 10); a JSON body already carries
 * its types, so it is never coerced: `{"stock": null}` or `{"quantity": true}` is a 400 naming
 * the field instead of being written as 0 or 1.
 */
export function strictBodyValidation(): NonNullable<FastifyServerOptions['schemaController']> {
  const pool = AjvCompiler();
  return {
    compilersFactory: {
      buildValidator: (externalSchemas, ajvServerOptions) => {
        const plugins = (ajvServerOptions as { plugins?: unknown[] } | undefined)?.plugins ?? [];
        const coercing = pool(externalSchemas, {
          customOptions: { ...AJV_OPTIONS, coerceTypes: 'array' },
          plugins,
        } as never);
        const strict = pool(externalSchemas, {
          customOptions: { ...AJV_OPTIONS, coerceTypes: false },
          plugins,
        } as never);
        const compile: FastifySchemaCompiler<unknown> = (route) =>
          route.httpPart === 'body'
            ? (strict(route as never) as never)
            : (finiteOnly(coercing(route as never)) as never);
        return compile as never;
      },
    },
  };
}

interface Validate {
  (data: unknown): boolean;
  errors?: unknown[] | null;
}

/**
 * Coercion turns `?limit=1e400` or `Infinity` into a number that skips `minimum`/`maximum`:
 * refuse anything that is not finite after the schema passed.
 */
function finiteOnly(validate: Validate): Validate {
  const checked: Validate = (data) => {
    if (!validate(data)) {
      checked.errors = validate.errors;
      return false;
    }
    const where = nonFinite(data, '');
    if (where === undefined) {
      checked.errors = null;
      return true;
    }
    checked.errors = [
      {
        instancePath: where,
        schemaPath: '#',
        keyword: 'finite',
        params: {},
        message: 'must be a finite number',
      },
    ];
    return false;
  };
  return checked;
}

function nonFinite(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const found = nonFinite(inner, `${path}/${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
