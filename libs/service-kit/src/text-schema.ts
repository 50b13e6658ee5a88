import { Type, type StringOptions } from '@sinclair/typebox';

/**
 * Rejects NUL and every C0/C1 control character and DEL: PostgreSQL refuses 0x00 outright (a
 * 500 if it gets that far), and control characters in a name or message are terminal escapes
 * and log forgeries waiting to happen.
 */
const SINGLE_LINE = '^[^\\u0000-\\u001f\\u007f-\\u009f]*$';

/** Like `SINGLE_LINE`, but tab, newline and carriage return are text. */
const MULTI_LINE = '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$';

/**
 * A free-text field: a string without control characters (tab and newlines allowed when
 * `multiline`), so a bad byte is a 400 naming the field in every service. Pass `minLength`,
 * `maxLength` and the rest as for `Type.String`; a `pattern` of your own replaces this one.
 */
export function Text(options: StringOptions & { multiline?: boolean } = {}) {
  const { multiline, ...rest } = options;
  return Type.String({ pattern: multiline ? MULTI_LINE : SINGLE_LINE, ...rest });
}

/** True when `value` would pass `Text({ multiline })` (for text that arrives outside HTTP). */
export function isCleanText(value: string, multiline = false): boolean {
  return new RegExp(multiline ? MULTI_LINE : SINGLE_LINE).test(value);
}
