// Copies the non-TypeScript files a service reads at run time (Lua scripts, HTML, SQL) from
// src/ to dist/, keeping their relative paths, because tsc only emits JavaScript.
import { cpSync, existsSync } from 'node:fs';
import { extname } from 'node:path';

const [from = 'src', to = 'dist'] = process.argv.slice(2);
const assets = new Set(['.lua', '.html', '.sql', '.css', '.json', '.svg']);
if (existsSync(from)) {
  cpSync(from, to, {
    recursive: true,
    filter: (source) => !extname(source) || assets.has(extname(source)),
  });
}
