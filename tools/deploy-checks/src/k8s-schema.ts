import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { customResourceProblems, isKnownCustomResource } from './crd-schema';
import type { K8sObject } from './render';

const load = createRequire(__filename);

/** `apps/v1` + `Deployment` -> `kubernetes-models/apps/v1/Deployment` (core: `v1/Service`). */
function modelModule(object: Pick<K8sObject, 'apiVersion' | 'kind'>): string {
  return `kubernetes-models/${object.apiVersion}/${object.kind}`;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** kustomize wraps long base64 Secret values over lines; the API server ignores the newlines. */
function asApiServerReads(object: K8sObject): K8sObject {
  if (object.kind !== 'Secret' || !object.data || typeof object.data !== 'object') return object;
  const data = Object.fromEntries(
    Object.entries(object.data as Record<string, unknown>).map(([key, value]) => [
      key,
      typeof value === 'string' ? value.replace(/\s+/g, '') : value,
    ]),
  );
  return { ...object, data };
}

/**
 * Validates one object against the Kubernetes OpenAPI schema bundled in `kubernetes-models`
 * (types, required fields, enums), or a custom resource against its schema in schemas/ (closed
 * to unknown fields). Returns the problems, empty when valid.
 */
export function schemaProblems(object: K8sObject): string[] {
  if (isKnownCustomResource(object)) return customResourceProblems(object);
  const where = `${object.kind}/${object.metadata?.name}`;
  let Model: ModelClass | undefined;
  try {
    Model = (load(modelModule(object)) as Record<string, ModelClass>)[object.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(asApiServerReads(object)).validate();
    return [];
  } catch (error) {
    return [`${where}: ${(error as Error).message}`];
  }
}

/**
 * Finds fields the Kubernetes schema does not know (a typo like `imagee`, a field at the wrong
 * level), which the JSON-schema validation lets through because the schemas allow additional
 * properties. Each object becomes a typed object literal against the model's interface
 * (`IDeployment`...) and TypeScript's excess-property check reports every unknown field with
 * its path. Returns one message per problem, naming the object.
 */
export function unknownFieldProblems(objects: K8sObject[]): string[] {
  const modelsDir = dirname(load.resolve('kubernetes-models/package.json'));
  const file = join(__dirname, '__rendered-objects__.ts');
  const lines: string[] = [];
  const starts: number[] = [];
  let offset = 0;
  const push = (line: string): void => {
    lines.push(line);
    offset += line.length + 1;
  };
  const typed = objects.map((object, index) => {
    const known = (() => {
      try {
        load.resolve(modelModule(object));
        return true;
      } catch {
        return false;
      }
    })();
    if (known) {
      push(`import type { I${object.kind} as T${index} } from '${modelModule(object)}';`);
    }
    return known;
  });
  objects.forEach((object, index) => {
    if (!typed[index]) return;
    starts[index] = offset;
    push(`export const o${index}: T${index} = ${JSON.stringify(object, null, 1)};`);
  });
  const source = lines.join('\n');

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    // ES5's lib is all the model declarations use; the default (ES2022 + DOM) triples the time.
    lib: ['lib.es5.d.ts'],
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2022,
    baseUrl: dirname(modelsDir),
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) =>
    name === file
      ? ts.createSourceFile(name, source, language)
      : getSourceFile.call(host, name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  previous = ts.createProgram([file], options, host, previous);
  const checker = previous.getTypeChecker();
  const sourceFile = previous.getSourceFile(file);
  if (!sourceFile) throw new Error('unknownFieldProblems: the generated source was not compiled');

  const problems: string[] = [];
  const objectAt = (position: number): string => {
    let index = -1;
    starts.forEach((begin, candidate) => {
      if (begin !== undefined && begin <= position) index = candidate;
    });
    const object = objects[index];
    return object ? `${object.kind}/${object.metadata?.name}` : 'rendered objects';
  };
  const visit = (node: ts.Node): void => {
    if (ts.isObjectLiteralExpression(node)) {
      const type = checker.getContextualType(node)?.getNonNullableType();
      if (type && !hasIndexSignature(checker, type)) {
        for (const property of node.properties) {
          if (!ts.isPropertyAssignment(property)) continue;
          const name = property.name.getText(sourceFile).replace(/^"|"$/g, '');
          if (!type.getProperty(name) && !unionHas(type, name)) {
            const start = property.getStart(sourceFile);
            problems.push(
              `${objectAt(start)} at ${fieldPath(sourceFile, start)}: unknown field "${name}"`,
            );
          }
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  for (const diagnostic of previous.getSemanticDiagnostics(sourceFile)) {
    const start = diagnostic.start ?? 0;
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    // Excess properties were all reported by the walk above; keep the other type errors.
    if (diagnostic.code === 2353 || diagnostic.code === 2561) continue;
    problems.push(`${objectAt(start)} at ${fieldPath(sourceFile, start)}: ${message}`);
  }
  return problems;
}

/** The compiled program of the previous call, so later calls reuse the parsed declarations. */
let previous: ts.Program | undefined;

/** Maps such as labels or ConfigMap data take any key. */
function hasIndexSignature(checker: ts.TypeChecker, type: ts.Type): boolean {
  const members = type.isUnion() ? type.types : [type];
  return members.some((member) => checker.getIndexInfosOfType(member).length > 0);
}

function unionHas(type: ts.Type, name: string): boolean {
  return type.isUnion() && type.types.some((member) => member.getProperty(name) !== undefined);
}

/** The JSON path (`spec.template.spec.containers[0].imagee`) of the property at `position`. */
function fieldPath(sourceFile: ts.SourceFile, position: number): string {
  const parts: string[] = [];
  let node: ts.Node | undefined = findNode(sourceFile, position);
  while (node && !ts.isVariableDeclaration(node)) {
    const parent: ts.Node | undefined = node.parent;
    if (ts.isPropertyAssignment(node)) {
      parts.unshift(node.name.getText(sourceFile).replace(/^"|"$/g, ''));
    } else if (parent && ts.isArrayLiteralExpression(parent)) {
      parts.unshift(`[${parent.elements.indexOf(node as ts.Expression)}]`);
    }
    node = parent;
  }
  return parts.join('.').replace(/\.\[/g, '[');
}

function findNode(node: ts.Node, position: number): ts.Node {
  for (const child of node.getChildren()) {
    if (child.getStart() <= position && position < child.getEnd()) return findNode(child, position);
  }
  return node;
}
