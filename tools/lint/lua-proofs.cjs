// Every Lua script names, in its header, the test that proves its invariant:
//   Proof: test/<file>.test.ts "<words of the test's name>"
// (path relative to the script's app or lib; several Proof lines allowed). Run by `npm run lint`:
// fails when a script names no proof, or names a file or a test that does not exist.
'use strict';
const { existsSync, readFileSync, readdirSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');

const ROOT = join(__dirname, '..', '..');
const PROOF = /^\s*Proof:\s+(\S+)\s+"([^"]+)"\s*$/gm;

function luaFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(path).isDirectory()) return luaFiles(path);
    return name.endsWith('.lua') ? [path] : [];
  });
}

const problems = [];
let checked = 0;
for (const parent of ['apps', 'libs']) {
  for (const project of readdirSync(join(ROOT, parent))) {
    const projectDir = join(ROOT, parent, project);
    for (const script of luaFiles(join(projectDir, 'src'))) {
      const text = readFileSync(script, 'utf8');
      const where = relative(ROOT, script);
      const proofs = [...text.matchAll(PROOF)];
      if (proofs.length === 0) {
        problems.push(
          `${where}: no \`Proof: test/<file>.test.ts "<test name>"\` line in its header`,
        );
        continue;
      }
      for (const [, file, name] of proofs) {
        const testFile = join(projectDir, file);
        checked += 1;
        if (!existsSync(testFile)) {
          problems.push(`${where}: its proof ${file} does not exist`);
        } else if (!readFileSync(testFile, 'utf8').includes(name)) {
          problems.push(`${where}: ${file} has no test named "${name}"`);
        }
      }
    }
  }
}
if (problems.length) {
  process.stderr.write(`lua-proofs:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`lua-proofs: ${checked} proofs named by Lua scripts exist\n`);
