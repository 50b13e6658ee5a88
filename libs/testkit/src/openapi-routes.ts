/**
 * A JSON Schema node as @fastify/swagger writes it into an OpenAPI 3.0 document from TypeBox
 * schemas: `const` becomes a one-member `enum`, `Type.Null()` in a union becomes `nullable`,
 * shared schemas become `$ref`s into `components.schemas`.
 */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  nullable?: boolean;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema | JsonSchema[];
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  multipleOf?: number;
  [keyword: string]: unknown;
}

interface OpenApiParameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: JsonSchema;
}

interface OpenApiMedia {
  schema?: JsonSchema;
}

interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content?: Record<string, OpenApiMedia> };
  responses?: Record<string, { content?: Record<string, OpenApiMedia> }>;
}

/** The parts of an OpenAPI 3 document the suite reads. */
export interface OpenApiDocument {
  openapi?: string;
  paths?: Record<string, Record<string, OpenApiOperation | OpenApiParameter[] | undefined>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** One path or query parameter of a route. */
export interface RouteParameter {
  name: string;
  required: boolean;
  schema: JsonSchema;
}

/** A declared response: its JSON schema when the document gives one. */
export interface DeclaredResponse {
  /** The key it is declared under: `'200'`, `'4XX'` or `'default'`. */
  key: string;
  /** Media types of its content; empty when it declares no body. */
  mediaTypes: string[];
  schema?: JsonSchema;
}

/** One operation of the document, as the suite generates requests for it. */
export interface HostileRoute {
  /** `'PUT /items/{id}'`: how options and reports name the route. */
  key: string;
  method: string;
  /** The OpenAPI path template, `{name}` for each path parameter. */
  path: string;
  pathParams: RouteParameter[];
  query: RouteParameter[];
  body?: { required: boolean; mediaTypes: string[]; schema?: JsonSchema };
  responses: DeclaredResponse[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'];
const TEMPLATE_PARAM = /\{([^}]+)\}/g;
const MAX_REF_HOPS = 32;

/** Follows `#/components/...` references until the schema is not a bare `$ref`. */
export function schemaResolver(document: OpenApiDocument): (schema: JsonSchema) => JsonSchema {
  return (schema) => {
    let current = schema;
    for (let hop = 0; current.$ref !== undefined && hop < MAX_REF_HOPS; hop += 1) {
      current = pointer(document, current.$ref);
    }
    return current;
  };
}

function pointer(document: OpenApiDocument, ref: string): JsonSchema {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
  let node: unknown = document;
  for (const raw of ref.slice(2).split('/')) {
    const token = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    node =
      typeof node === 'object' && node !== null
        ? (node as Record<string, unknown>)[token]
        : undefined;
  }
  if (typeof node !== 'object' || node === null) throw new Error(`$ref ${ref} points nowhere`);
  return node as JsonSchema;
}

/** Every operation of the document; literal paths before templated ones, so matching prefers them. */
export function readOpenApiRoutes(document: OpenApiDocument): HostileRoute[] {
  const routes: HostileRoute[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of METHODS) {
      const operation = item[method];
      if (operation === undefined || Array.isArray(operation)) continue;
      routes.push(toRoute(path, method.toUpperCase(), operation, shared));
    }
  }
  return routes.sort((a, b) => a.pathParams.length - b.pathParams.length);
}

function toRoute(
  path: string,
  method: string,
  operation: OpenApiOperation,
  shared: OpenApiParameter[],
): HostileRoute {
  const parameters = [...shared, ...(operation.parameters ?? [])];
  const declared = (where: string) =>
    parameters
      .filter((parameter) => parameter.in === where)
      .map((parameter) => ({
        name: parameter.name,
        required: parameter.in === 'path' || parameter.required === true,
        schema: parameter.schema ?? { type: 'string' },
      }));
  const pathParams = declared('path');
  for (const [, name] of path.matchAll(TEMPLATE_PARAM)) {
    if (!pathParams.some((parameter) => parameter.name === name)) {
      pathParams.push({ name, required: true, schema: { type: 'string' } });
    }
  }
  const content = operation.requestBody?.content;
  return {
    key: `${method} ${path}`,
    method,
    path,
    pathParams,
    query: declared('query'),
    body: content
      ? {
          required: operation.requestBody?.required === true,
          mediaTypes: Object.keys(content),
          schema: jsonMedia(content)?.schema,
        }
      : undefined,
    responses: Object.entries(operation.responses ?? {}).map(([key, response]) => ({
      key,
      mediaTypes: Object.keys(response.content ?? {}),
      schema: jsonMedia(response.content ?? {})?.schema,
    })),
  };
}

function jsonMedia(content: Record<string, OpenApiMedia>): OpenApiMedia | undefined {
  const type = Object.keys(content).find((media) => /^application\/(.+\+)?json\b/.test(media));
  return type === undefined ? undefined : content[type];
}

/** The response a status falls under: exact code, then `4XX`-style range, then `default`. */
export function declaredResponse(
  route: HostileRoute,
  status: number,
): DeclaredResponse | undefined {
  const byKey = (key: string) =>
    route.responses.find((response) => response.key.toUpperCase() === key);
  return byKey(String(status)) ?? byKey(`${Math.floor(status / 100)}XX`) ?? byKey('DEFAULT');
}

/** The route whose template matches a concrete URL and method, if any. */
export function matchRoute(
  routes: readonly HostileRoute[],
  method: string,
  url: string,
): HostileRoute | undefined {
  const path = url.split('?')[0];
  return routes.find(
    (route) => route.method === method.toUpperCase() && templateRegExp(route.path).test(path),
  );
}

function templateRegExp(template: string): RegExp {
  const parts = template.split(TEMPLATE_PARAM);
  const source = parts
    .map((part, index) => (index % 2 === 1 ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}
