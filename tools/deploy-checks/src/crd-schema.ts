import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import type { K8sObject } from './render';

/**
 * Custom resources whose CRDs kubernetes-models lacks, each validated against a small schema
 * under schemas/ that is closed to unknown fields (so a typo fails here, as it would on apply).
 */
const CRD_SCHEMAS: Record<string, string> = {
  'monitoring.coreos.com/v1': 'monitoring-coreos-com-v1.json',
};

const compiled = new Map<string, ValidateFunction>();

function validator(apiVersion: string): ValidateFunction | undefined {
  const file = CRD_SCHEMAS[apiVersion];
  if (!file) return undefined;
  let validate = compiled.get(file);
  if (!validate) {
    const ajv = new Ajv({
      allErrors: true,
      strict: true,
      allowUnionTypes: true,
      strictRequired: false,
    });
    validate = ajv.compile(
      JSON.parse(readFileSync(join(__dirname, '..', 'schemas', file), 'utf8')) as object,
    );
    compiled.set(file, validate);
  }
  return validate;
}

/** True when `object` is a custom resource this module has a schema for. */
export function isKnownCustomResource(object: Pick<K8sObject, 'apiVersion'>): boolean {
  return object.apiVersion in CRD_SCHEMAS;
}

/** Problems of one custom resource against its schema: path and message each, empty when valid. */
export function customResourceProblems(object: K8sObject): string[] {
  const validate = validator(object.apiVersion);
  const where = `${object.kind}/${object.metadata?.name}`;
  if (!validate) return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  if (validate(object)) return [];
  return (validate.errors ?? [])
    .filter((error) => error.keyword !== 'if')
    .map((error) => {
      const extra = (error.params as { additionalProperty?: string }).additionalProperty;
      return `${where} at ${error.instancePath || '/'}: ${error.message}${extra ? ` ("${extra}")` : ''}`;
    });
}
