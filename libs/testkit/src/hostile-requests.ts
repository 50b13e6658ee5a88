import * as fc from 'fast-check';
import type { HostileRoute, RouteParameter } from './openapi-routes';
import {
  encodeJson,
  hostileCases,
  RawBytes,
  RawNumber,
  schemaTypes,
  validValue,
  type SchemaContext,
} from './schema-arbitraries';

/** How the server will read the body, so the suite can tell whether it breaks the schema. */
export type BodyView =
  | { kind: 'absent' }
  | { kind: 'json'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'refused'; why: string }
  | { kind: 'unknown' };

/** What the route's validators will see: decoded path parameters, parsed query, body. */
export interface ServerView {
  /** Undefined when a segment is not decodable UTF-8 (Fastify answers 400 before the route). */
  params?: Record<string, string>;
  /** Undefined when the query's parsed form is not predictable (broken escapes, `__proto__`). */
  query?: Record<string, string | string[]>;
  body: BodyView;
}

/** One generated request, ready for `app.inject`. */
export interface RequestDraft {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  /** `valid`, or what was spoiled: `body.stock: null instead of integer`. */
  label: string;
  view: ServerView;
}

interface Segment {
  encoded: string;
  decoded: string | undefined;
}

interface QueryEntry {
  name: string;
  key: string;
  value: string;
  opaque?: boolean;
}

type BodyPart =
  | { kind: 'absent' }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; payload: string | Buffer; contentType?: string; view: BodyView };

interface Parts {
  path: Segment[];
  query: QueryEntry[];
  body: BodyPart;
  label: string;
}

type Spoiler = (parts: Parts) => Parts;

export interface RequestCaseOptions {
  /** The app's body limit; one hostile body is a byte larger. */
  bodyLimit: number;
}

/** Text for a path or query parameter, as sent on the wire (already percent-encoded). */
const ENCODED_TEXT: [string, string[]][] = [
  ['percent-encoded NUL', ['%00', 'a%00b']],
  [
    'percent-encoded control characters',
    ['%01', '%1B%5B31m', '%0D%0ASet-Cookie:%20x=1', '%7F', '%C2%85'],
  ],
  ['invalid UTF-8', ['%FF', '%C3%28', '%C0%AF', '%ED%A0%80', '%E2%82']],
  ['broken escape', ['%', '%zz', '%G0', 'a%2']],
  [
    'numeral forms',
    [
      '12345678901234567890',
      '1.5',
      '1e3',
      '1e400',
      '0x10',
      '%201',
      '%2B1',
      '-0',
      'NaN',
      'Infinity',
    ],
  ],
  ['5000 characters', ['a'.repeat(5000), '%F0%9F%98%80'.repeat(300)]],
];

const DOT_SEGMENTS = [
  '..%2F..%2Fmetrics',
  '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
  '..%5C..%5Cwindows',
  '%252e%252e%252f',
  'a%2Fb',
];

const QUERY_EXTRAS: [string, string[]][] = [
  [
    'prototype keys',
    [
      '__proto__=1',
      '__proto__%5Bpolluted%5D=1',
      'constructor%5Bprototype%5D%5Bpolluted%5D=1',
      'hasOwnProperty=1',
    ],
  ],
  ['unknown keys', ['zz=1', Array.from({ length: 2000 }, () => 'zz=1').join('&')]],
];

const MALFORMED_JSON = [
  '',
  '{',
  '}',
  '{"a":1,}',
  "{'a':1}",
  'NaN',
  '{"a":1}{"b":2}',
  '\u0000',
  '[',
  '{"a":"\\uZZZZ"}',
  '{"a":01}',
  'nul',
];

const UNSUPPORTED_TYPES = [
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
];

/**
 * Requests for one route: valid ones by its schemas, and one arbitrary per hostile case (each
 * a valid request spoiled in one place), so a suite can run every case once and then draw
 * from all of them.
 */
export function requestCases(
  route: HostileRoute,
  context: SchemaContext,
  options: RequestCaseOptions,
): { valid: fc.Arbitrary<RequestDraft>; hostile: fc.Arbitrary<RequestDraft>[] } {
  const valid = validParts(route, context);
  const parts = fc.record({
    path: valid.path,
    query: valid.query,
    body: valid.body,
    label: fc.constant('valid'),
  });
  const spoilers = [
    ...route.pathParams.flatMap((parameter, index) => pathSpoilers(parameter, index, context)),
    ...querySpoilers(route, context),
    ...bodySpoilers(route, context, valid.body, options),
  ];
  return {
    valid: parts.map((clean) => draft(route, clean)),
    hostile: spoilers.map((spoiler) =>
      fc.tuple(parts, spoiler).map(([clean, spoil]) => draft(route, spoil(clean))),
    ),
  };
}

function validParts(route: HostileRoute, context: SchemaContext) {
  const path = fc.tuple(
    ...route.pathParams.map((parameter) =>
      validValue(parameter.schema, context, parameter.name)
        .map(segment)
        .filter((one) => !['', '.', '..'].includes(one.decoded ?? '')),
    ),
  );
  const query = fc
    .tuple(
      ...route.query.map((parameter) => {
        const value = validValue(parameter.schema, context, parameter.name).map((one) =>
          entries(parameter.name, one),
        );
        return parameter.required ? value : fc.option(value, { nil: [] });
      }),
    )
    .map((lists) => lists.flat());
  const json = route.body?.mediaTypes.some((type) => /json/.test(type)) ?? false;
  const body: fc.Arbitrary<BodyPart> =
    route.body === undefined
      ? fc.constant({ kind: 'absent' })
      : json && route.body.schema
        ? validValue(route.body.schema, context).map((value) => ({ kind: 'json', value }))
        : fc.constant({ kind: 'raw', payload: '', view: { kind: 'unknown' } });
  return { path, query, body };
}

function segment(value: unknown): Segment {
  if (value instanceof RawBytes)
    return { encoded: percentEncoded(value.bytes), decoded: undefined };
  const text = textOf(value);
  try {
    return { encoded: encodeURIComponent(text), decoded: text };
  } catch {
    return { encoded: percentEncoded([...Buffer.from(text)]), decoded: undefined };
  }
}

function percentEncoded(bytes: readonly number[]): string {
  return bytes.map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

function textOf(value: unknown): string {
  if (value instanceof RawNumber) return value.text;
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}

function entries(name: string, value: unknown): QueryEntry[] {
  const values = Array.isArray(value) ? value : [value];
  return values.map((one) => {
    const encoded = segment(one);
    return {
      name,
      key: encodeURIComponent(name),
      value: encoded.encoded,
      opaque: encoded.decoded === undefined,
    };
  });
}

function safeDecode(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

function pathSpoilers(
  parameter: RouteParameter,
  index: number,
  context: SchemaContext,
): fc.Arbitrary<Spoiler>[] {
  const at = `params.${parameter.name}`;
  const encoded: fc.Arbitrary<{ label: string; encoded: string }>[] = [
    ...[...ENCODED_TEXT, ['encoded dot segments', DOT_SEGMENTS] as [string, string[]]].map(
      ([what, texts]) =>
        fc.constantFrom(...texts).map((text) => ({ label: `${at}: ${what}`, encoded: text })),
    ),
    // A whole `.` or `..` segment is resolved by any WHATWG URL client (inject included), so
    // it never reaches the route; the encoded forms above do.
    ...hostileCases(parameter.schema, context, at).map((spoiled) =>
      spoiled
        .map((one) => ({ label: one.label, encoded: segment(one.value).encoded }))
        .filter((one) => one.encoded !== '.' && one.encoded !== '..'),
    ),
  ];
  return encoded.map((spoiled) =>
    spoiled.map(({ label, encoded: text }): Spoiler => (parts) => ({
      ...parts,
      path: parts.path.map((one, position) =>
        position === index ? { encoded: text, decoded: safeDecode(text) } : one,
      ),
      label,
    })),
  );
}

function querySpoilers(route: HostileRoute, context: SchemaContext): fc.Arbitrary<Spoiler>[] {
  const spoilers: fc.Arbitrary<Spoiler>[] = QUERY_EXTRAS.map(([what, texts]) =>
    fc.constantFrom(...texts).map((text): Spoiler => (parts) => ({
      ...parts,
      query: [...parts.query, { name: '', key: text, value: '', opaque: true }],
      label: `query: ${what}`,
    })),
  );
  const without = (parts: Parts, name: string) =>
    parts.query.filter((entry) => entry.name !== name);
  for (const parameter of route.query) {
    const name = parameter.name;
    const key = encodeURIComponent(name);
    spoilers.push(
      ...hostileCases(parameter.schema, context, `query.${name}`).map((spoiled) =>
        spoiled.map((one): Spoiler => (parts) => ({
          ...parts,
          query: [...without(parts, name), ...entries(name, one.value)],
          label: one.label,
        })),
      ),
      ...ENCODED_TEXT.map(([what, texts]) =>
        fc.constantFrom(...texts).map((value): Spoiler => (parts) => {
          const decoded = safeDecode(value);
          return {
            ...parts,
            query: [...without(parts, name), { name, key, value, opaque: decoded === undefined }],
            label: `query.${name}: ${what}`,
          };
        }),
      ),
    );
    if (parameter.required) {
      spoilers.push(
        fc.constant((parts: Parts): Parts => ({
          ...parts,
          query: without(parts, name),
          label: `query.${name}: missing (required)`,
        })),
      );
    }
    if (!schemaTypes(context.resolve(parameter.schema)).includes('array')) {
      spoilers.push(
        validValue(parameter.schema, context, name).map((second): Spoiler => (parts) => ({
          ...parts,
          query: [...parts.query, ...entries(name, second), ...entries(name, second)],
          label: `query.${name}: repeated`,
        })),
      );
    }
  }
  return spoilers;
}

function bodySpoilers(
  route: HostileRoute,
  context: SchemaContext,
  validBody: fc.Arbitrary<BodyPart>,
  options: RequestCaseOptions,
): fc.Arbitrary<Spoiler>[] {
  const schema = route.body?.schema;
  if (route.body === undefined || schema === undefined) return [];
  const accepted = route.body.mediaTypes;
  const json = (payload: string, contentType = 'application/json'): BodyPart => ({
    kind: 'raw',
    payload,
    contentType,
    view: { kind: 'json', text: payload },
  });
  const validText = validBody.map((body) =>
    body.kind === 'json' ? String(encodeJson(body.value)) : '{}',
  );
  const replace =
    (body: BodyPart, label: string): Spoiler =>
    (parts) => ({ ...parts, body, label });
  const unsupported = (text: string, contentType: string): BodyPart =>
    accepted.includes(contentType.split(';')[0])
      ? { kind: 'raw', payload: text, contentType, view: { kind: 'unknown' } }
      : {
          kind: 'raw',
          payload: contentType === 'application/octet-stream' ? Buffer.from(text) : text,
          contentType,
          view: { kind: 'refused', why: `content-type ${contentType} is not declared` },
        };
  const spoilers: fc.Arbitrary<Spoiler>[] = [
    ...hostileCases(schema, context, 'body').map((spoiled) =>
      spoiled.map((one) => replace({ kind: 'json', value: one.value }, one.label)),
    ),
    fc
      .constantFrom(...MALFORMED_JSON)
      .map((text) => replace(json(text), `body: malformed JSON ${JSON.stringify(text)}`)),
    fc.tuple(validText, fc.nat()).map(([text, at]) => {
      const cut = text.length <= 1 ? 0 : at % (text.length - 1);
      return replace(json(text.slice(0, cut + 1)), `body: JSON cut after ${cut + 1} characters`);
    }),
    fc
      .tuple(
        validText,
        fc.constantFrom(
          '"__proto__":{"isAdmin":true}',
          '"constructor":{"prototype":{"isAdmin":true}}',
        ),
      )
      .map(([text, poison]) =>
        replace(
          json(text.startsWith('{}') ? `{${poison}}` : text.replace('{', `{${poison},`)),
          `body: prototype poisoning ${poison}`,
        ),
      ),
    fc
      .tuple(fc.constantFrom(1_000, 100_000), fc.boolean())
      .map(([depth, arrays]) =>
        replace(
          json(
            arrays
              ? '['.repeat(depth) + ']'.repeat(depth)
              : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
          ),
          `body: ${arrays ? 'arrays' : 'objects'} nested ${depth} deep`,
        ),
      ),
    validText.map((text) =>
      replace(json(text, 'application/json; charset=utf-8'), 'body: content-type with charset'),
    ),
    fc
      .tuple(validText, fc.constantFrom(...UNSUPPORTED_TYPES))
      .map(([text, contentType]) =>
        replace(unsupported(text, contentType), `body: content-type ${contentType}`),
      ),
    validText.map((text) =>
      replace(
        { kind: 'raw', payload: text, contentType: 'text/plain', view: { kind: 'text', text } },
        'body: content-type text/plain',
      ),
    ),
    validText.map((text) =>
      replace(
        { kind: 'raw', payload: text, view: { kind: 'refused', why: 'no content-type' } },
        'body: no content-type',
      ),
    ),
    fc.constant(
      replace(
        {
          kind: 'raw',
          payload: `{"x":"${'x'.repeat(options.bodyLimit)}"}`,
          contentType: 'application/json',
          view: { kind: 'refused', why: `larger than the body limit ${options.bodyLimit}` },
        },
        `body: ${options.bodyLimit + 8} bytes`,
      ),
    ),
  ];
  if (route.body.required) spoilers.push(fc.constant(replace({ kind: 'absent' }, 'body: missing')));
  return spoilers;
}

function draft(route: HostileRoute, parts: Parts): RequestDraft {
  let index = 0;
  const path = route.path.replace(/\{[^}]+\}/g, () => parts.path[index++]?.encoded ?? '');
  const search = parts.query
    .map((entry) => (entry.name === '' ? entry.key : `${entry.key}=${entry.value}`))
    .join('&');
  const url = search === '' ? path : `${path}?${search}`;
  const params = parts.path.some((one) => one.decoded === undefined)
    ? undefined
    : Object.fromEntries(
        route.pathParams.map((parameter, at) => [parameter.name, parts.path[at].decoded ?? '']),
      );
  const query = parts.query.some((entry) => entry.opaque) ? undefined : parsedQuery(parts.query);
  const headers: Record<string, string> = {};
  let payload: string | Buffer | undefined;
  let body: BodyView = { kind: 'absent' };
  if (parts.body.kind === 'json') {
    payload = encodeJson(parts.body.value);
    headers['content-type'] = 'application/json';
    body = { kind: 'json', text: payload.toString() };
  } else if (parts.body.kind === 'raw') {
    payload = parts.body.payload;
    if (parts.body.contentType !== undefined) headers['content-type'] = parts.body.contentType;
    body = parts.body.view;
  }
  return {
    method: route.method,
    url,
    headers,
    payload,
    label: parts.label,
    view: { params, query, body },
  };
}

/** The query as Fastify's parser gives it: repeated keys become arrays. */
function parsedQuery(query: readonly QueryEntry[]): Record<string, string | string[]> {
  const parsed: Record<string, string | string[]> = {};
  for (const entry of query) {
    const value = decodeURIComponent(entry.value);
    const seen = parsed[entry.name];
    parsed[entry.name] = seen === undefined ? value : ([] as string[]).concat(seen, value);
  }
  return parsed;
}
