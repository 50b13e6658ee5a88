import { parseAllDocuments } from 'yaml';
import { runTool } from './external-tool';

/** One rendered Kubernetes object, as plain JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Parses a multi-document YAML stream; a syntax error throws with its position. */
export function parseYamlStream(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length) throw new Error(document.errors[0].message);
      return document.toJSON() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

/**
 * Renders a kustomization with `kubectl kustomize` (offline). A missing kubectl is an error, never
 * a skip: tools/prerequisites.sh lists it, CI installs from that list.
 */
export function kustomize(dir: string, kubectl = 'kubectl'): K8sObject[] {
  const result = runTool(
    kubectl,
    ['kustomize', dir],
    'the Kubernetes manifests cannot be rendered and checked',
    { timeoutMs: 30_000 },
  );
  if (result.status !== 0) {
    throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr.trim()}`);
  }
  return parseYamlStream(result.stdout);
}
