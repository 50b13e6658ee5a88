import * as fc from 'fast-check';
import type { JsonSchema } from './openapi-routes';

/** A JSON number written verbatim, for numerals `JSON.stringify` cannot write: `12345678901234567890`, `1e400`, `-0`. */
export class RawNumber {
  constructor(readonly text: string) {}
}

/** A JSON string whose UTF-8 is broken on purpose: these bytes are written between the quotes. */
export class RawBytes {
  constructor(readonly bytes: readonly number[]) {}
}

/** A generated value and what makes it hostile, e.g. `body.stock: null instead of integer`. */
export interface Labeled {
  value: unknown;
  label: string;
}

/** What the generators need to know beyond the schema itself. */
export interface SchemaContext {
  /** Follows `$ref`s into the document's components. */
  resolve(schema: JsonSchema): JsonSchema;
  /** Values the caller wants mixed in for a field or parameter of this name (ids that exist). */
  known(name: string | undefined): readonly unknown[] | undefined;
}

const MAX_DEPTH = 5;
const SAFE_MIN = Number.MIN_SAFE_INTEGER;
const SAFE_MAX = Number.MAX_SAFE_INTEGER;

/** Characters that break terminals, logs, PostgreSQL text or naive parsers. */
const CONTROL_CHARACTERS = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\u0008',
  '\t',
  '\n',
  '\r\n',
  '\u000b',
  '\u001b[31m',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ud800',
  '\udfff',
];

/** Byte sequences that are not UTF-8: a lone continuation, overlong, surrogate, truncated. */
const INVALID_UTF8: readonly (readonly number[])[] = [
  [0xff],
  [0xc3, 0x28],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

const HOSTILE_TEXT = [
  "' OR '1'='1' --",
  '<script>alert(1)</script>',
  '${jndi:ldap://127.0.0.1/x}',
  '../../../../etc/passwd',
  '%s%s%n',
  '\\',
  '"',
  '{{7*7}}',
  'null',
  'İstanbul ǅ ﬃ',
  'e\u0301\u0301\u0301',
  '👩‍👩‍👧‍👦',
];

const EXTRA_FIELD_NAMES = ['extra', 'isAdmin', 'role', 'constructor', 'toString', 'hasOwnProperty'];

const FORMATS: Record<string, () => fc.Arbitrary<string>> = {
  'date-time': () => isoDates().map((date) => date.toISOString()),
  date: () => isoDates().map((date) => date.toISOString().slice(0, 10)),
  time: () => isoDates().map((date) => `${date.toISOString().slice(11, 19)}Z`),
  email: () => fc.emailAddress(),
  uri: () => fc.webUrl(),
  url: () => fc.webUrl(),
  'uri-reference': () => fc.webUrl(),
  uuid: () => fc.uuid(),
  ipv4: () => fc.ipV4(),
  ipv6: () => fc.ipV6(),
  hostname: () => fc.domain(),
};

function isoDates(): fc.Arbitrary<Date> {
  return fc.date({
    min: new Date('1970-01-01T00:00:00Z'),
    max: new Date('2100-01-01T00:00:00Z'),
    noInvalidDate: true,
  });
}

/** JSON types a schema accepts (after following `$ref`); empty when it constrains none. */
export function schemaTypes(schema: JsonSchema): string[] {
  const types =
    schema.type === undefined ? inferredTypes(schema) : ([] as string[]).concat(schema.type);
  return schema.nullable && !types.includes('null') ? [...types, 'null'] : types;
}

function inferredTypes(schema: JsonSchema): string[] {
  if (schema.const !== undefined) return [jsonType(schema.const)];
  if (schema.enum) return [...new Set(schema.enum.map(jsonType))];
  if (schema.properties || schema.additionalProperties !== undefined) return ['object'];
  if (schema.items || schema.prefixItems) return ['array'];
  if (schema.pattern !== undefined || schema.format !== undefined) return ['string'];
  if (schema.minLength !== undefined || schema.maxLength !== undefined) return ['string'];
  if (schema.minimum !== undefined || schema.maximum !== undefined) return ['number'];
  return [];
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** Values the schema accepts, biased to its boundaries and to the caller's known values. */
export function validValue(
  schema: JsonSchema,
  context: SchemaContext,
  name?: string,
  depth = 0,
): fc.Arbitrary<unknown> {
  const resolved = context.resolve(schema);
  const generated = byKeyword(resolved, context, name, depth);
  const nullable = resolved.nullable ? fc.oneof(generated, fc.constant(null)) : generated;
  const known = context.known(name);
  return known && known.length > 0
    ? fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...known) },
        { weight: 1, arbitrary: nullable },
      )
    : nullable;
}

function byKeyword(
  schema: JsonSchema,
  context: SchemaContext,
  name: string | undefined,
  depth: number,
): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum)
    return schema.enum.length > 0 ? fc.constantFrom(...schema.enum) : fc.constant(null);
  if (schema.allOf) return validValue(mergeAllOf(schema, context), context, name, depth);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches && branches.length > 0) {
    return fc.oneof(...branches.map((branch) => validValue(branch, context, name, depth)));
  }
  const types = schemaTypes({ ...schema, nullable: false });
  if (types.length > 1) {
    return fc.oneof(...types.map((type) => byKeyword({ ...schema, type }, context, name, depth)));
  }
  switch (types[0]) {
    case 'string':
      return validString(schema);
    case 'integer':
      return validInteger(schema);
    case 'number':
      return fc.oneof(validInteger(schema), validDouble(schema));
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return validArray(schema, context, name, depth);
    case 'object':
      return validObject(schema, context, depth);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function mergeAllOf(schema: JsonSchema, context: SchemaContext): JsonSchema {
  const { allOf = [], ...rest } = schema;
  return allOf.map(context.resolve).reduce<JsonSchema>(
    (merged, part) => ({
      ...merged,
      ...part,
      properties: { ...merged.properties, ...part.properties },
      required: [...(merged.required ?? []), ...(part.required ?? [])],
    }),
    rest,
  );
}

function validString(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.min(schema.maxLength ?? minLength + 24, minLength + 64);
  const fits = (text: string) => {
    const length = codePoints(text);
    return length >= minLength && length <= (schema.maxLength ?? Infinity);
  };
  const format = schema.format === undefined ? undefined : FORMATS[schema.format];
  if (format) return format().filter(fits);
  if (schema.pattern !== undefined) return patterned(schema.pattern, minLength, maxLength, fits);
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength, maxLength }) },
  );
}

/** `^[class]*$`-style patterns (service-kit's `Text`) get exact lengths; others are filtered. */
function patterned(
  pattern: string,
  minLength: number,
  maxLength: number,
  fits: (text: string) => boolean,
): fc.Arbitrary<string> {
  const whole = /^\^(\[(?:\\.|[^\]\\])+\])([*+])\$$/.exec(pattern);
  if (whole) {
    const unit = fc.stringMatching(new RegExp(`^${whole[1]}$`, 'u'));
    return fc.string({ unit, minLength: Math.max(minLength, whole[2] === '+' ? 1 : 0), maxLength });
  }
  return fc
    .stringMatching(new RegExp(pattern, 'u'), {
      maxLength,
      size: minLength > 0 ? 'medium' : 'small',
    })
    .filter(fits);
}

function integerBounds(schema: JsonSchema): { min: number; max: number } {
  const exclusiveMin =
    typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : undefined;
  const exclusiveMax =
    typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum - 1 : undefined;
  const min = Math.ceil(
    Math.max(
      schema.minimum !== undefined
        ? schema.minimum + (schema.exclusiveMinimum === true ? 1 : 0)
        : SAFE_MIN,
      exclusiveMin ?? SAFE_MIN,
    ),
  );
  const max = Math.floor(
    Math.min(
      schema.maximum !== undefined
        ? schema.maximum - (schema.exclusiveMaximum === true ? 1 : 0)
        : SAFE_MAX,
      exclusiveMax ?? SAFE_MAX,
    ),
  );
  return { min, max };
}

function validInteger(schema: JsonSchema): fc.Arbitrary<number> {
  const { min, max } = integerBounds(schema);
  const step = schema.multipleOf && Number.isInteger(schema.multipleOf) ? schema.multipleOf : 1;
  const low = Math.ceil(min / step);
  const high = Math.floor(max / step);
  const small = { min: Math.max(low, -100), max: Math.min(high, 1000) };
  const options = [fc.integer({ min: low, max: high }), fc.constantFrom(low, high)];
  if (small.min <= small.max) options.push(fc.integer(small), fc.integer(small));
  return fc.oneof(...options).map((k) => k * step);
}

function validDouble(schema: JsonSchema): fc.Arbitrary<number> {
  const min =
    typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum : schema.minimum;
  const max =
    typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum : schema.maximum;
  return fc.double({
    min: min ?? -1e12,
    max: max ?? 1e12,
    minExcluded: typeof schema.exclusiveMinimum === 'number' || schema.exclusiveMinimum === true,
    maxExcluded: typeof schema.exclusiveMaximum === 'number' || schema.exclusiveMaximum === true,
    noNaN: true,
    noDefaultInfinity: true,
  });
}

function validArray(
  schema: JsonSchema,
  context: SchemaContext,
  name: string | undefined,
  depth: number,
): fc.Arbitrary<unknown[]> {
  const tuple = schema.prefixItems ?? (Array.isArray(schema.items) ? schema.items : undefined);
  if (tuple) return fc.tuple(...tuple.map((item) => validValue(item, context, name, depth + 1)));
  const item = validValue((schema.items as JsonSchema | undefined) ?? {}, context, name, depth + 1);
  const minLength = schema.minItems ?? 0;
  const maxLength = Math.min(
    schema.maxItems ?? minLength + 4,
    minLength + (depth < MAX_DEPTH ? 6 : 0),
  );
  return schema.uniqueItems
    ? fc.uniqueArray(item, { minLength, maxLength, selector: (value) => JSON.stringify(value) })
    : fc.array(item, { minLength, maxLength });
}

function validObject(
  schema: JsonSchema,
  context: SchemaContext,
  depth: number,
): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const names = Object.keys(properties).filter((key) => required.has(key) || depth < MAX_DEPTH);
  const model = Object.fromEntries(
    names.map((key) => [key, validValue(properties[key], context, key, depth + 1)]),
  );
  const declared = fc.record(model, {
    requiredKeys: names.filter((key) => required.has(key)),
    noNullPrototype: true,
  });
  const extra = schema.additionalProperties;
  if (typeof extra !== 'object' || depth >= MAX_DEPTH) return declared;
  const keyPattern = Object.keys(schema.patternProperties ?? {})[0];
  const keys = (
    keyPattern === undefined
      ? fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 })
      : fc.stringMatching(new RegExp(keyPattern, 'u'), { maxLength: 24 })
  ).filter((key) => key !== '__proto__' && !(key in properties));
  return fc
    .tuple(
      fc.dictionary(keys, validValue(extra, context, undefined, depth + 1), {
        maxKeys: 3,
        noNullPrototype: true,
      }),
      declared,
    )
    .map(([free, fixed]) => ({ ...free, ...fixed }));
}

/**
 * Values a careful service must refuse or survive, as a flat list of cases, one per kind and
 * place: the wrong JSON type, boundaries crossed, NUL and other control characters, broken
 * UTF-8, huge numerals and strings, a required field missing, a field that is not allowed; in
 * objects and arrays, one nested value spoiled at a time. The list is flat so that a case deep
 * in a body is as likely as one at its top, and so that each case can be run once on purpose.
 * Whether a value breaks the schema is decided afterwards with Ajv, not assumed here.
 */
export function hostileCases(
  schema: JsonSchema,
  context: SchemaContext,
  path: string,
  depth = 0,
): fc.Arbitrary<Labeled>[] {
  const resolved = context.resolve(schema);
  const effective = resolved.allOf ? mergeAllOf(resolved, context) : resolved;
  const types = schemaTypes(effective);
  const cases: fc.Arbitrary<Labeled>[] = [wrongType(types, path)];
  const branches = effective.anyOf ?? effective.oneOf;
  if (branches && depth < MAX_DEPTH) {
    const nested = branches.flatMap((branch) => hostileCases(branch, context, path, depth + 1));
    if (nested.length > 0) cases.push(fc.oneof(...nested));
  }
  if (effective.enum || effective.const !== undefined) cases.push(notAMember(effective, path));
  if (types.includes('string')) cases.push(...stringCases(effective, path));
  if (types.includes('integer') || types.includes('number')) {
    cases.push(...numberCases(effective, path, !types.includes('number')));
  }
  if (types.includes('array') && depth < MAX_DEPTH) {
    cases.push(...arrayCases(effective, context, path, depth));
  }
  if (types.includes('object') && depth < MAX_DEPTH) {
    cases.push(...objectCases(effective, context, path, depth));
  }
  return cases;
}

function labeled(path: string, what: string) {
  return (value: unknown): Labeled => ({ value, label: `${path}: ${what}` });
}

function wrongType(types: readonly string[], path: string): fc.Arbitrary<Labeled> {
  const samples: [string, unknown][] = [
    ['null', null],
    ['boolean', true],
    ['integer', 0],
    ['number', 1.5],
    ['string', ''],
    ['string', '1'],
    ['string', 'true'],
    ['array', []],
    ['array', [1]],
    ['object', {}],
  ];
  const accepted = (type: string) =>
    types.includes(type) || (type === 'integer' && types.includes('number'));
  const wrong = samples.filter(([type]) => types.length === 0 || !accepted(type));
  const expected = types.length === 0 ? 'any' : types.join(' or ');
  return fc.constantFrom(...(wrong.length > 0 ? wrong : samples)).map(([, value]) => ({
    value,
    label: `${path}: ${JSON.stringify(value)} instead of ${expected}`,
  }));
}

function notAMember(schema: JsonSchema, path: string): fc.Arbitrary<Labeled> {
  const members = schema.enum ?? [schema.const];
  const near = members
    .filter((member): member is string => typeof member === 'string')
    .flatMap((member) => [member.toUpperCase(), ` ${member}`, `${member}\u0000`]);
  return fc
    .constantFrom('not-a-member', ...near.filter((value) => !members.includes(value)))
    .map(labeled(path, 'not one of the allowed values'));
}

function withInserted(base: fc.Arbitrary<string>, inserted: fc.Arbitrary<string>, path: string) {
  return fc.tuple(base, inserted, fc.nat()).map(([text, control, at]) => {
    const cut = text.length === 0 ? 0 : at % (text.length + 1);
    const code = control.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0') ?? '';
    return labeled(
      path,
      `control character U+${code}`,
    )(text.slice(0, cut) + control + text.slice(cut));
  });
}

function stringCases(schema: JsonSchema, path: string): fc.Arbitrary<Labeled>[] {
  const base = validString({ ...schema, format: undefined, pattern: undefined });
  const cases: fc.Arbitrary<Labeled>[] = [
    withInserted(base, fc.constant('\u0000'), path),
    withInserted(base, fc.constantFrom(...CONTROL_CHARACTERS), path),
    fc
      .constantFrom(...INVALID_UTF8)
      .map((bytes) =>
        labeled(path, `invalid UTF-8 ${Buffer.from(bytes).toString('hex')}`)(new RawBytes(bytes)),
      ),
    fc.constantFrom(...HOSTILE_TEXT).map(labeled(path, 'hostile text')),
    fc
      .constantFrom(10_000, 100_000)
      .map((length) => labeled(path, `${length} characters`)('x'.repeat(length))),
    fc.constantFrom('', ' ', '   ').map(labeled(path, 'empty or blank')),
  ];
  if (schema.maxLength !== undefined) {
    const over = schema.maxLength + 1;
    cases.push(
      fc
        .constantFrom('x'.repeat(over), 'é'.repeat(over), '😀'.repeat(over))
        .map(labeled(path, `maxLength ${schema.maxLength} + 1`)),
    );
  }
  if (schema.minLength !== undefined && schema.minLength > 0) {
    cases.push(
      fc
        .constant('x'.repeat(schema.minLength - 1))
        .map(labeled(path, `minLength ${schema.minLength} - 1`)),
    );
  }
  if (schema.format !== undefined) {
    cases.push(
      fc
        .constantFrom(`not-a-${schema.format}`, '2024-13-45T25:61:61Z', '0')
        .map(labeled(path, `not a ${schema.format}`)),
    );
  }
  return cases;
}

function numberCases(schema: JsonSchema, path: string, integer: boolean): fc.Arbitrary<Labeled>[] {
  const { min, max } = integerBounds(schema);
  const cases: fc.Arbitrary<Labeled>[] = [
    fc
      .constantFrom('12345678901234567890', '-12345678901234567890', '9007199254740993')
      .map((numeral) =>
        labeled(path, `${numeral.replace('-', '').length}-digit integer`)(new RawNumber(numeral)),
      ),
    fc
      .constantFrom('1e400', '-1e400')
      .map((numeral) =>
        labeled(path, `${numeral} (±Infinity once parsed)`)(new RawNumber(numeral)),
      ),
    fc
      .constantFrom<[string, unknown]>(
        ['1e-400', new RawNumber('1e-400')],
        ['-0', new RawNumber('-0')],
        ['1e3', new RawNumber('1e3')],
        ['largest double', Number.MAX_VALUE],
        ['-1', -1],
      )
      .map(([what, value]) => labeled(path, what)(value)),
  ];
  if (integer) cases.push(fc.constantFrom(1.5, 1.0000001).map(labeled(path, 'a fraction')));
  if (min > SAFE_MIN) {
    cases.push(fc.constantFrom(min - 1, min - 0.5).map(labeled(path, `below minimum ${min}`)));
  }
  if (max < SAFE_MAX) {
    cases.push(fc.constantFrom(max + 1, max + 0.5).map(labeled(path, `above maximum ${max}`)));
  }
  return cases;
}

function arrayCases(
  schema: JsonSchema,
  context: SchemaContext,
  path: string,
  depth: number,
): fc.Arbitrary<Labeled>[] {
  const itemSchema = (Array.isArray(schema.items) ? schema.items[0] : schema.items) ?? {};
  const item = validValue(itemSchema, context, undefined, depth + 1);
  const nonEmpty = validArray(
    {
      ...schema,
      minItems: Math.max(1, schema.minItems ?? 0),
      maxItems: Math.max(1, schema.maxItems ?? 1),
    },
    context,
    undefined,
    depth,
  );
  const cases: fc.Arbitrary<Labeled>[] = hostileCases(
    itemSchema,
    context,
    `${path}[]`,
    depth + 1,
  ).map((spoiled) =>
    fc.tuple(nonEmpty, spoiled, fc.nat()).map(([items, one, at]) => {
      const copy = [...items];
      copy[at % copy.length] = one.value;
      return { value: copy, label: one.label };
    }),
  );
  cases.push(
    item.map((one) => labeled(path, '10000 items')(Array.from({ length: 10_000 }, () => one))),
  );
  if (schema.maxItems !== undefined) {
    const over = schema.maxItems + 1;
    cases.push(
      fc
        .array(item, { minLength: over, maxLength: over })
        .map(labeled(path, `maxItems ${schema.maxItems} + 1`)),
    );
  }
  if (schema.minItems !== undefined && schema.minItems > 0) {
    const under = schema.minItems - 1;
    cases.push(
      fc
        .array(item, { minLength: under, maxLength: under })
        .map(labeled(path, `minItems ${schema.minItems} - 1`)),
    );
  }
  return cases;
}

function objectCases(
  schema: JsonSchema,
  context: SchemaContext,
  path: string,
  depth: number,
): fc.Arbitrary<Labeled>[] {
  const valid = validObject(schema, context, depth);
  const properties = schema.properties ?? {};
  const cases: fc.Arbitrary<Labeled>[] = Object.entries(properties).flatMap(([name, property]) =>
    hostileCases(property, context, `${path}.${name}`, depth + 1).map((spoiled) =>
      fc
        .tuple(valid, spoiled)
        .map(([object, one]) => ({ value: { ...object, [name]: one.value }, label: one.label })),
    ),
  );
  for (const name of schema.required ?? []) {
    cases.push(
      valid.map((object) => {
        const copy = { ...object };
        delete copy[name];
        return labeled(`${path}.${name}`, 'missing (required)')(copy);
      }),
    );
  }
  if (schema.additionalProperties === false) {
    const names = EXTRA_FIELD_NAMES.filter((name) => !(name in properties));
    cases.push(
      fc
        .tuple(valid, fc.constantFrom(...names))
        .map(([object, name]) =>
          labeled(`${path}.${name}`, 'field not allowed')({ ...object, [name]: true }),
        ),
    );
  } else if (typeof schema.additionalProperties === 'object') {
    cases.push(
      ...hostileCases(schema.additionalProperties, context, `${path}.zz`, depth + 1).map(
        (spoiled) =>
          fc
            .tuple(valid, spoiled)
            .map(([object, one]) => ({ value: { ...object, zz: one.value }, label: one.label })),
      ),
    );
  }
  return cases;
}

/**
 * JSON text for a generated value: `RawNumber`s verbatim, `RawBytes` as raw bytes inside a
 * string (then the result is a Buffer), everything else as `JSON.stringify` writes it.
 */
export function encodeJson(value: unknown): string | Buffer {
  const chunks: (string | Buffer)[] = [];
  write(value, chunks);
  return chunks.every((chunk) => typeof chunk === 'string')
    ? chunks.join('')
    : Buffer.concat(
        chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)),
      );
}

function write(value: unknown, chunks: (string | Buffer)[]): void {
  if (value instanceof RawNumber) {
    chunks.push(value.text);
  } else if (value instanceof RawBytes) {
    chunks.push('"', Buffer.from(value.bytes), '"');
  } else if (Array.isArray(value)) {
    chunks.push('[');
    value.forEach((item, index) => {
      if (index > 0) chunks.push(',');
      write(item === undefined ? null : item, chunks);
    });
    chunks.push(']');
  } else if (typeof value === 'object' && value !== null) {
    chunks.push('{');
    let first = true;
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      chunks.push(`${first ? '' : ','}${JSON.stringify(key)}:`);
      write(item, chunks);
      first = false;
    }
    chunks.push('}');
  } else {
    chunks.push(JSON.stringify(value) ?? 'null');
  }
}
