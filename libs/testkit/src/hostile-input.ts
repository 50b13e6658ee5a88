import { isDeepStrictEqual } from 'node:util';
import { AjvCompiler } from '@fastify/ajv-compiler';
import * as fc from 'fast-check';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import {
  declaredResponse,
  matchRoute,
  readOpenApiRoutes,
  schemaResolver,
  type DeclaredResponse,
  type HostileRoute,
  type JsonSchema,
  type OpenApiDocument,
  type RouteParameter,
} from './openapi-routes';
import { requestCases, type RequestDraft, type ServerView } from './hostile-requests';

export type {
  DeclaredResponse,
  HostileRoute,
  JsonSchema,
  OpenApiDocument,
  RouteParameter,
} from './openapi-routes';

/** An explicit request that always runs, with the status it must get. */
export interface HostileExample {
  /** Shown in failures. @default `${method} ${url}` */
  name?: string;
  method: string;
  url: string;
  /** Merged over the `headers` hook's. @default {} */
  headers?: Record<string, string>;
  /** A string or Buffer is sent as is (set its content-type); anything else as JSON. */
  payload?: unknown;
  /** Sent without the `headers` hook (e.g. without a session). @default false */
  anonymous?: boolean;
  /** The status it must get, or one of several. */
  status: number | readonly number[];
  /** The error envelope's `code` it must get (e.g. `VALIDATION_ERROR`). @default not checked */
  code?: string;
  /** What the error envelope's `message` must match (e.g. name the field). @default not checked */
  message?: RegExp;
}

/** A failing generated run to replay exactly: as printed in the failure. */
export interface HostileReplay {
  route: string;
  seed: number;
  path: string;
}

export interface HostileInputOptions {
  /** The built app, not listening: every request goes through `app.inject`. */
  app: Pick<FastifyInstance, 'inject'>;
  /** Where the app serves its OpenAPI 3 document. @default '/docs/json' */
  docsUrl?: string;
  /**
   * Routes to test: a path (`'/items/{id}'`), a prefix (`'/admin/*'`), `'PUT /items/{id}'`,
   * or a RegExp tested against `'PUT /items/{id}'`. @default every route of the document
   */
  include?: ReadonlyArray<string | RegExp>;
  /** Routes left out, same forms as `include` (streams such as SSE, `/metrics`). @default [] */
  exclude?: ReadonlyArray<string | RegExp>;
  /** Generated requests per route. @default 200 */
  runs?: number;
  /** fast-check seed for every route. @default random, printed with any failure */
  seed?: number;
  /** Replays one printed failure: only its route runs, from that seed and path. */
  replay?: HostileReplay;
  /** A request not answered within this many ms is a hang. @default 2000 */
  timeoutMs?: number;
  /** A dependency may be away, so a 503 is accepted where the route declares one. @default false */
  dependencyMayBeDown?: boolean;
  /** Headers for each request to the route (a session cookie, a CSRF token). @default none */
  headers?: (route: HostileRoute) => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Values mixed into valid requests by field or parameter name, so that they reach entities
   * that exist: `{ sku: ['sku-1'] }`. @default {}
   */
  knownValues?: Readonly<Record<string, readonly unknown[]>>;
  /**
   * The state a rejected request must leave as it was: read before a request and after each
   * 4xx, compared with `isDeepStrictEqual`. @default none (not checked)
   */
  snapshot?: () => Promise<unknown>;
  /** Requests that always run first, with the status each must get. @default [] */
  examples?: readonly HostileExample[];
  /** The app's body limit; one generated body is a byte larger. @default 1048576 */
  bodyLimit?: number;
}

/** One request the app answered wrongly, with what is needed to commit it as a regression. */
export interface HostileFailure {
  /** `'PUT /items/{id}'`, or the example's name. */
  route: string;
  problem: string;
  /** `valid`, or what was spoiled: `body.stock: null instead of integer`. */
  label: string;
  request: {
    method: string;
    url: string;
    headers: Record<string, string>;
    payload?: string | Buffer;
  };
  response?: { status: number; body: string };
  /** Absent for fixed examples. */
  replay?: HostileReplay;
}

export interface HostileRouteReport {
  route: string;
  requests: number;
  /** Requests that break the route's schema (each one had to get a 4xx). */
  schemaInvalid: number;
  /** Count of each status answered. */
  statuses: Record<string, number>;
  seed: number;
}

export interface HostileInputReport {
  routes: HostileRouteReport[];
  examples: number;
}

/** Thrown when any route or example failed; the message lists each failure. */
export class HostileInputError extends Error {
  constructor(readonly failures: readonly HostileFailure[]) {
    super(describeFailures(failures));
    this.name = 'HostileInputError';
  }
}

interface Validate {
  (data: unknown): boolean;
  errors?: { instancePath: string; message?: string }[] | null;
}

interface Exchange {
  route?: HostileRoute;
  request: HostileFailure['request'];
  label: string;
  view?: ServerView;
  expected?: readonly number[];
  /** The error envelope an example must get. */
  envelope?: { code?: string; message?: RegExp };
  anonymous?: boolean;
}

const SHOWN_BODY = 300;

/**
 * Generated hostile input for every route of the app's own OpenAPI document, plus fixed
 * examples. Every answer must be a status the route declares, with a body matching that
 * status's schema, within `timeoutMs`; never a 5xx (a declared 503 only when a dependency may
 * be down); a 4xx for any request that breaks the route's schema; and no change to
 * `snapshot()` from a rejected request. Resolves with what was sent; rejects with a
 * `HostileInputError` naming each failing request, its fast-check seed and path.
 */
export async function hostileInputSuite(options: HostileInputOptions): Promise<HostileInputReport> {
  const docs = await options.app.inject({ method: 'GET', url: options.docsUrl ?? '/docs/json' });
  if (docs.statusCode !== 200) {
    throw new Error(
      `no OpenAPI document at ${options.docsUrl ?? '/docs/json'}: ${docs.statusCode}`,
    );
  }
  const document = docs.json<OpenApiDocument>();
  if (!String(document.openapi ?? '').startsWith('3.')) {
    throw new Error(`expected an OpenAPI 3 document, got openapi=${String(document.openapi)}`);
  }
  const suite = new Suite(options, document);
  const failures: HostileFailure[] = [];
  if (options.replay === undefined) {
    for (const example of options.examples ?? []) {
      const failure = await suite.example(example);
      if (failure) failures.push(failure);
    }
  }
  const reports: HostileRouteReport[] = [];
  for (const route of suite.selectedRoutes()) {
    const { report, failure } = await suite.generated(route);
    reports.push(report);
    if (failure) failures.push(failure);
  }
  if (failures.length > 0) throw new HostileInputError(failures);
  return { routes: reports, examples: options.replay ? 0 : (options.examples ?? []).length };
}

class Suite {
  private readonly routes: HostileRoute[];
  private readonly compileBody: (schema: JsonSchema) => Validate;
  private readonly compileText: (schema: JsonSchema) => Validate;
  private readonly compileResponse: (schema: JsonSchema) => Validate;
  private readonly validators = new Map<string, Validate>();
  private readonly resolve: (schema: JsonSchema) => JsonSchema;
  private baseline: { state: unknown } | undefined;

  constructor(
    private readonly options: HostileInputOptions,
    document: OpenApiDocument,
  ) {
    this.routes = readOpenApiRoutes(document);
    this.resolve = schemaResolver(document);
    // The same Ajv and formats Fastify validates with; `components` rides along so that the
    // document's `#/components/schemas/...` references resolve inside each compiled schema.
    const pool = AjvCompiler();
    const compiler = (customOptions: Record<string, unknown>) => {
      const compile = pool(
        {},
        {
          customOptions: {
            strict: false,
            logger: false,
            removeAdditional: false,
            ...customOptions,
          },
        },
      );
      return (schema: JsonSchema) =>
        compile({ schema: { ...schema, components: document.components ?? {} } }) as Validate;
    };
    // Mirrors service-kit's validation (bodies never coerced, text parts coerced), with one
    // deliberate difference: `strict: false` also turns Ajv's strictNumbers off, so a query's
    // `1e400` coerced to Infinity is out of range as JSON Schema means, where Fastify's strict
    // Ajv skips `minimum`/`maximum` for it and lets it through.
    this.compileBody = compiler({ coerceTypes: false, useDefaults: true });
    this.compileText = compiler({ coerceTypes: 'array', useDefaults: true });
    this.compileResponse = compiler({ coerceTypes: false, useDefaults: false, allErrors: true });
  }

  selectedRoutes(): HostileRoute[] {
    const { include, exclude = [], replay } = this.options;
    if (replay) {
      const route = this.routes.find((one) => one.key === replay.route);
      if (!route) throw new Error(`replay: no route ${replay.route} in the document`);
      return [route];
    }
    return this.routes.filter(
      (route) =>
        (include === undefined || include.some((pattern) => matches(route, pattern))) &&
        !exclude.some((pattern) => matches(route, pattern)),
    );
  }

  async example(example: HostileExample): Promise<HostileFailure | undefined> {
    const headers = { ...example.headers };
    let payload: string | Buffer | undefined;
    if (typeof example.payload === 'string' || Buffer.isBuffer(example.payload)) {
      payload = example.payload;
    } else if (example.payload !== undefined) {
      payload = JSON.stringify(example.payload);
      headers['content-type'] ??= 'application/json';
    }
    return this.exchange({
      route: matchRoute(this.routes, example.method, example.url),
      request: { method: example.method.toUpperCase(), url: example.url, headers, payload },
      label: example.name ?? `example ${example.method} ${example.url}`,
      expected: ([] as number[]).concat(example.status),
      envelope: { code: example.code, message: example.message },
      anonymous: example.anonymous,
    });
  }

  async generated(
    route: HostileRoute,
  ): Promise<{ report: HostileRouteReport; failure?: HostileFailure }> {
    const { runs = 200, replay, knownValues = {}, bodyLimit = 1024 * 1024 } = this.options;
    const seed = replay?.seed ?? this.options.seed ?? Math.floor(Math.random() * 0x7fffffff);
    const cases = requestCases(
      route,
      {
        resolve: this.resolve,
        known: (name) => (name === undefined ? undefined : knownValues[name]),
      },
      { bodyLimit },
    );
    // Every hostile case once, then `runs` draws from all of them and from valid requests.
    const catalog = cases.hostile.map(
      (one, index) => fc.sample(one, { seed: (seed + index) | 0, numRuns: 1 }) as [RequestDraft],
    );
    const arbitrary = fc.oneof(
      { weight: 2, arbitrary: cases.valid },
      { weight: 3, arbitrary: fc.oneof(...cases.hostile) },
    );
    const report: HostileRouteReport = {
      route: route.key,
      requests: 0,
      schemaInvalid: 0,
      statuses: {},
      seed,
    };
    let last: HostileFailure | undefined;
    let hung = false;
    const property = fc.asyncProperty(arbitrary, async (draft: RequestDraft) => {
      // A hung app may stay stuck: keep the hang as the counterexample instead of shrinking it.
      if (hung) return true;
      const failure = await this.exchange(
        {
          route,
          request: {
            method: draft.method,
            url: draft.url,
            headers: draft.headers,
            payload: draft.payload,
          },
          label: draft.label,
          view: draft.view,
        },
        report,
      );
      if (failure === undefined) return true;
      hung = failure.response === undefined;
      last = failure;
      return false;
    });
    const details = await fc.check(property, {
      numRuns: catalog.length + runs,
      examples: catalog,
      seed,
      ...(replay ? { path: replay.path } : {}),
    });
    if (!details.failed) return { report };
    const replayed = {
      route: route.key,
      seed: details.seed,
      path: details.counterexamplePath ?? '',
    };
    return {
      report,
      failure: last
        ? { ...last, replay: replayed }
        : {
            route: route.key,
            problem: `the suite itself failed: ${String(details.errorInstance)}`,
            label: '',
            request: { method: route.method, url: route.path, headers: {} },
            replay: replayed,
          },
    };
  }

  private async exchange(
    exchange: Exchange,
    report?: HostileRouteReport,
  ): Promise<HostileFailure | undefined> {
    const { route, request } = exchange;
    const { snapshot, timeoutMs = 2000 } = this.options;
    const fail = (problem: string, response?: LightMyRequestResponse): HostileFailure => ({
      route: route?.key ?? exchange.label,
      problem,
      label: exchange.label,
      request,
      response: response && { status: response.statusCode, body: response.body },
    });
    const hooked =
      route && !exchange.anonymous && this.options.headers ? await this.options.headers(route) : {};
    if (snapshot && this.baseline === undefined) this.baseline = { state: await snapshot() };
    const injected: InjectOptions = {
      method: request.method as InjectOptions['method'],
      url: request.url,
      headers: { ...hooked, ...request.headers },
      payload: request.payload,
    };
    let response: LightMyRequestResponse | undefined;
    try {
      response = await within(Promise.resolve(this.options.app.inject(injected)), timeoutMs);
    } catch (error) {
      this.baseline = undefined;
      return fail(`the request could not be sent: ${String(error)}`);
    }
    if (response === undefined) {
      this.baseline = undefined;
      return fail(`no answer within ${timeoutMs} ms`);
    }
    const status = response.statusCode;
    const breach = exchange.view && route ? this.breach(route, exchange.view) : undefined;
    if (report) {
      report.requests += 1;
      report.statuses[status] = (report.statuses[status] ?? 0) + 1;
      if (breach !== undefined) report.schemaInvalid += 1;
    }
    const problem = this.problem(exchange, response, breach);
    if (status >= 400 && status < 500 && snapshot && this.baseline) {
      const after = await snapshot();
      const before = this.baseline.state;
      this.baseline = { state: after };
      if (problem === undefined && !isDeepStrictEqual(before, after)) {
        return fail(
          `rejected with ${status} but changed the state: before ${shown(before)}, after ${shown(after)}`,
          response,
        );
      }
    } else {
      this.baseline = undefined;
    }
    return problem === undefined ? undefined : fail(problem, response);
  }

  private problem(
    exchange: Exchange,
    response: LightMyRequestResponse,
    breach: string | undefined,
  ): string | undefined {
    const status = response.statusCode;
    const { route, expected } = exchange;
    if (expected && !expected.includes(status))
      return `status ${status}, expected ${expected.join(' or ')}`;
    const envelopeProblem = this.envelopeProblem(exchange, response);
    if (envelopeProblem) return envelopeProblem;
    const declared = route && declaredResponse(route, status);
    const unavailable = status === 503 && this.options.dependencyMayBeDown && declared;
    if (status >= 500 && !unavailable && !expected?.includes(status))
      return `server error ${status}`;
    if (route === undefined) return undefined;
    if (declared === undefined) {
      return `status ${status} is not declared (declared: ${route.responses.map((one) => one.key).join(', ')})`;
    }
    if (breach !== undefined && status < 400) {
      return `status ${status} for a request that breaks the route's schema: ${breach}`;
    }
    return this.bodyProblem(route, declared, response);
  }

  private envelopeProblem(
    { envelope }: Exchange,
    response: LightMyRequestResponse,
  ): string | undefined {
    if (!envelope?.code && !envelope?.message) return undefined;
    let body: { code?: unknown; message?: unknown } = {};
    try {
      body = JSON.parse(response.body) as typeof body;
    } catch {
      return 'body is not the JSON error envelope';
    }
    if (envelope.code && body.code !== envelope.code)
      return `code ${String(body.code)}, expected ${envelope.code}`;
    if (envelope.message && !envelope.message.test(String(body.message)))
      return `message "${String(body.message)}" does not match ${String(envelope.message)}`;
    return undefined;
  }

  private bodyProblem(
    route: HostileRoute,
    declared: DeclaredResponse,
    response: LightMyRequestResponse,
  ): string | undefined {
    if (declared.schema === undefined) return undefined;
    const type = String(response.headers['content-type'] ?? '');
    if (!/json/i.test(type)) {
      return `content-type ${type || '(none)'}, but ${declared.key} declares ${declared.mediaTypes.join(', ')}`;
    }
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      return `body is not JSON, but ${declared.key} declares a schema`;
    }
    const validate = this.validator(`response ${route.key} ${declared.key}`, () =>
      this.compileResponse(declared.schema as JsonSchema),
    );
    if (validate(body)) return undefined;
    const errors = (validate.errors ?? [])
      .slice(0, 3)
      .map((error) => `${error.instancePath || '(root)'} ${error.message ?? ''}`.trim());
    return `body does not match the ${declared.key} schema: ${errors.join('; ')}`;
  }

  /** Why the server must refuse the request; undefined when it conforms or cannot be known. */
  private breach(route: HostileRoute, view: ServerView): string | undefined {
    if (view.params === undefined) return 'a path segment is not valid UTF-8 percent-encoding';
    const text = (part: string, parameters: readonly RouteParameter[], data: unknown) => {
      if (parameters.length === 0) return undefined;
      const validate = this.textPart(route, part, parameters);
      return validate(structuredClone(data)) ? undefined : firstError(part, validate);
    };
    return (
      text('params', route.pathParams, view.params) ??
      this.bodyBreach(route, view.body) ??
      (view.query === undefined ? undefined : text('querystring', route.query, view.query))
    );
  }

  private bodyBreach(route: HostileRoute, body: ServerView['body']): string | undefined {
    if (body.kind === 'refused') return body.why;
    const schema = route.body?.schema;
    if (schema === undefined || body.kind === 'unknown') return undefined;
    const validate = this.validator(`body ${route.key}`, () => this.compileBody(schema));
    const check = (data: unknown) => (validate(data) ? undefined : firstError('body', validate));
    switch (body.kind) {
      case 'absent':
        return route.body?.required === true ? check(undefined) : undefined;
      case 'text':
        return check(body.text);
      case 'json': {
        const parsed = parseLikeFastify(body.text);
        return parsed === undefined ? 'the body is not JSON Fastify parses' : check(parsed.value);
      }
    }
  }

  private textPart(
    route: HostileRoute,
    part: string,
    parameters: readonly RouteParameter[],
  ): Validate {
    return this.validator(`${part} ${route.key}`, () =>
      this.compileText({
        type: 'object',
        properties: Object.fromEntries(
          parameters.map((parameter) => [parameter.name, parameter.schema]),
        ),
        required: parameters
          .filter((parameter) => parameter.required)
          .map((parameter) => parameter.name),
      }),
    );
  }

  private validator(key: string, build: () => Validate): Validate {
    let validate = this.validators.get(key);
    if (validate === undefined) {
      validate = build();
      this.validators.set(key, validate);
    }
    return validate;
  }
}

function firstError(part: string, validate: Validate): string {
  const [error] = validate.errors ?? [];
  return error
    ? `${part}${error.instancePath} ${error.message ?? 'is invalid'}`
    : `${part} is invalid`;
}

function matches(route: HostileRoute, pattern: string | RegExp): boolean {
  if (pattern instanceof RegExp) return pattern.test(route.key);
  if (pattern.endsWith('*')) return route.path.startsWith(pattern.slice(0, -1));
  return pattern === route.key || pattern === route.path;
}

/**
 * JSON as Fastify's parser reads it (secure-json-parse with its defaults): a leading BOM is
 * dropped, and an own `__proto__` key or a `constructor.prototype` anywhere is refused.
 */
function parseLikeFastify(text: string): { value: unknown } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch {
    return undefined;
  }
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Object.prototype.hasOwnProperty.call(node, '__proto__')) return undefined;
    const constructor = (node as Record<string, unknown>).constructor;
    if (
      Object.prototype.hasOwnProperty.call(node, 'constructor') &&
      typeof constructor === 'object' &&
      constructor !== null &&
      Object.prototype.hasOwnProperty.call(constructor, 'prototype')
    ) {
      return undefined;
    }
    pending.push(...Object.values(node));
  }
  return { value };
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function shown(value: unknown): string {
  return truncated(JSON.stringify(value) ?? String(value));
}

function truncated(text: string): string {
  return text.length > SHOWN_BODY
    ? `${text.slice(0, SHOWN_BODY)}… (${text.length} characters)`
    : text;
}

function shownPayload(payload: string | Buffer): string {
  if (typeof payload === 'string') return shown(payload);
  return payload.length > SHOWN_BODY
    ? `<${payload.length} bytes>`
    : `Buffer.from('${payload.toString('base64')}', 'base64')`;
}

function describeFailures(failures: readonly HostileFailure[]): string {
  const lines = [`hostile input: ${failures.length} failure${failures.length === 1 ? '' : 's'}`];
  failures.forEach((failure, index) => {
    const { request } = failure;
    lines.push(`${index + 1}) ${failure.route}: ${failure.problem}`);
    lines.push(`   request: ${request.method} ${truncated(request.url)}`);
    if (failure.label) lines.push(`   generated as: ${failure.label}`);
    if (Object.keys(request.headers).length > 0)
      lines.push(`   headers: ${JSON.stringify(request.headers)}`);
    if (request.payload !== undefined) lines.push(`   payload: ${shownPayload(request.payload)}`);
    if (failure.response)
      lines.push(`   response: ${failure.response.status} ${shown(failure.response.body)}`);
    if (failure.replay) {
      const { route, seed, path } = failure.replay;
      lines.push(`   replay: { route: '${route}', seed: ${seed}, path: '${path}' }`);
    }
  });
  return lines.join('\n');
}
