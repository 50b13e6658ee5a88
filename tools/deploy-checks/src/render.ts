import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

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
 * a skip: CI installs it (.ci/run), and a developer is told what to install.
 */
export function kustomize(dir: string, kubectl = 'kubectl'): K8sObject[] {
  const result = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(
      `${kubectl} is not installed, so the Kubernetes manifests cannot be checked: install it ` +
        '(Debian: apt-get install kubectl; .ci/run does this on CI)',
    );
  }
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr.trim()}`);
  }
  return parseYamlStream(result.stdout);
}
