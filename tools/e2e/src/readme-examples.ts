// The curl examples of the READMEs, as a test runs them: every `curl` command in a ```sh block
// (continuation lines joined), with the status the README states for it: in its trailing
// comment (`curl ... # 404 PRODUCT_NOT_FOUND`), in the comment lines right after it
// (`# 200, x-cache: miss then hit` or `# -> {...}` for a 2xx body), or in the comment line right
// before it (`# login: 200 {user} + Set-Cookie ...`). A command whose comments say
// `(not run: <why>)` is listed but skipped, with its reason.
import { readFileSync } from 'node:fs';
import { SERVICES } from '../../dev/services';

export interface CurlExample {
  /** `setup`: a shell assignment (`TOKEN=$(curl ...)`) the following commands use. */
  kind: 'curl' | 'setup';
  file: string;
  /** 1-based line of the command's first line. */
  line: number;
  command: string;
  /** The status the README states; undefined: any 2xx. */
  status?: number;
  /** Why the README says this command is not run by the test. */
  notRun?: string;
}

const STATUS = /^(?:[\w ./-]+:\s*)?(?:->\s*)?([1-5]\d\d)\b/;

function statusIn(comment: string | undefined): number | undefined {
  if (comment === undefined) return undefined;
  const match = STATUS.exec(comment.trim().replace(/^#\s*/, '').trim());
  return match ? Number(match[1]) : undefined;
}

/** Whether a single or double quote is still open at the end of `text`. */
function unclosedQuote(text: string): boolean {
  let quote: string | undefined;
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
  }
  return quote !== undefined;
}

/** Splits `cmd  # comment` outside quotes. */
export function splitComment(line: string): [string, string | undefined] {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return [line.slice(0, i).trimEnd(), line.slice(i)];
    }
  }
  return [line, undefined];
}

export function curlExamples(file: string, text = readFileSync(file, 'utf8')): CurlExample[] {
  const lines = text.split('\n');
  const examples: CurlExample[] = [];
  /** Lines that belong to a command (its continuation lines included). */
  const commandLines = new Set<number>();
  let inShell = false;
  for (let i = 0; i < lines.length; i += 1) {
    const raw = lines[i];
    if (/^```/.test(raw.trim())) {
      inShell = !inShell && /^```(sh|bash|shell)\b/.test(raw.trim());
      continue;
    }
    const setup = /^[A-Za-z_][A-Za-z0-9_]*=/.test(raw.trim());
    if (!inShell || !(setup || /^curl\s/.test(raw.trim()))) continue;
    const first = i;
    let [command, trailing] = splitComment(raw.trim());
    // Continued with a backslash, or by a quoted argument spanning lines (a JSON body).
    while ((command.endsWith('\\') || unclosedQuote(command)) && i + 1 < lines.length) {
      i += 1;
      if (unclosedQuote(command)) {
        command = `${command} ${lines[i].trim()}`;
        continue;
      }
      const [more, comment] = splitComment(lines[i].trim());
      command = `${command.slice(0, -1).trimEnd()} ${more}`;
      trailing = comment ?? trailing;
    }
    for (let k = first; k <= i; k += 1) commandLines.add(k);
    if (setup) {
      examples.push({ kind: 'setup', file, line: first + 1, command });
      continue;
    }
    const after: string[] = [];
    for (let j = i + 1; j < lines.length && /^\s*#/.test(lines[j]); j += 1) after.push(lines[j]);
    // The comment lines right above belong to this command unless they follow another command.
    let top = first;
    while (top > 0 && /^\s*#/.test(lines[top - 1])) top -= 1;
    const ownsAbove = top < first && !commandLines.has(top - 1);
    const before = ownsAbove ? lines.slice(top, first) : [];
    const comments = [trailing, ...after, ...before].filter((c): c is string => c !== undefined);
    const notRun = comments.map((c) => /\(not run: ([^)]+)\)/.exec(c)?.[1]).find(Boolean);
    examples.push({
      kind: 'curl',
      file,
      line: first + 1,
      command,
      status:
        statusIn(trailing) ??
        statusIn(after[0]) ??
        before.map(statusIn).find((status) => status !== undefined),
      notRun,
    });
  }
  return examples;
}

/** The README's ports (DESIGN's table, `SERVICES` of tools/dev/cluster.ts) and their services. */
export const README_PORTS: Record<number, string> = Object.fromEntries(
  SERVICES.map((service) => [service.port, service.name]),
);

const README_ADDRESS = new RegExp(
  `(https?:\\/\\/)?(?:localhost|127\\.0\\.0\\.1):(${Object.keys(README_PORTS).join('|')})`,
  'g',
);

/** The command with `localhost:300x` / `127.0.0.1:300x` pointed at the given base URLs. */
export function retarget(command: string, baseUrlOf: (service: string) => string): string {
  return command.replace(README_ADDRESS, (_, scheme: string | undefined, port: string) => {
    const base = baseUrlOf(README_PORTS[Number(port)]);
    return scheme ? base : base.replace(/^https?:\/\//, '');
  });
}

/**
 * One bash script running a README's examples in order (so cookie jars and assignments carry
 * over), printing `EXAMPLE <index> <status>` for each curl command.
 */
export function examplesScript(
  examples: CurlExample[],
  baseUrlOf: (service: string) => string,
): string {
  const lines = ['set -u'];
  examples.forEach((example, index) => {
    const command = retarget(example.command, baseUrlOf);
    if (example.kind === 'setup') lines.push(command);
    else if (!example.notRun)
      lines.push(
        `printf 'EXAMPLE ${index} %s\\n' "$(${command} -s -o /dev/null -w '%{http_code}' --max-time 3 2>/dev/null)"`,
      );
  });
  return `${lines.join('\n')}\n`;
}
