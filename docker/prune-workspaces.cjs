// Writes the deployable tree of one service for the image's prune stage: the root package.json
// and package-lock.json, plus the service and the workspace libs it needs at run time (following
// production dependencies only), each with its package.json (devDependencies and scripts
// stripped), dist/ and migrations/. The root's workspaces become exactly that closure, so
// `npm install --omit=dev` in <out> installs the service's production dependencies at the
// versions pinned in the lockfile, and nothing that only tests or other services need.
// Usage, from the repository root after the build: node docker/prune-workspaces.cjs <app> <out>
const {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} = require('node:fs');
const { join } = require('node:path');

const [app, out] = process.argv.slice(2);
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const writeJson = (file, data) => writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
const withoutDevParts = ({ devDependencies: _dev, scripts: _scripts, ...manifest }) => manifest;

if (!app || !out || !existsSync(join('apps', app, 'package.json'))) {
  process.stderr.write(`prune-workspaces: no apps/${app}/package.json (set --build-arg APP)\n`);
  process.exit(1);
}

const dirByName = new Map();
for (const parent of ['apps', 'libs']) {
  for (const child of readdirSync(parent)) {
    const manifest = join(parent, child, 'package.json');
    if (existsSync(manifest)) dirByName.set(readJson(manifest).name, join(parent, child));
  }
}

const keep = new Set();
const visit = (dir) => {
  if (keep.has(dir)) return;
  keep.add(dir);
  for (const dependency of Object.keys(readJson(join(dir, 'package.json')).dependencies ?? {})) {
    const workspace = dirByName.get(dependency);
    if (workspace) visit(workspace);
  }
};
visit(join('apps', app));
const workspaces = [...keep].sort();

mkdirSync(out, { recursive: true });
writeJson(join(out, 'package.json'), { ...withoutDevParts(readJson('package.json')), workspaces });
cpSync('package-lock.json', join(out, 'package-lock.json'));
for (const dir of workspaces) {
  if (!existsSync(join(dir, 'dist'))) {
    process.stderr.write(`prune-workspaces: ${dir}/dist is missing (build first)\n`);
    process.exit(1);
  }
  mkdirSync(join(out, dir), { recursive: true });
  writeJson(join(out, dir, 'package.json'), withoutDevParts(readJson(join(dir, 'package.json'))));
  for (const folder of ['dist', 'migrations']) {
    if (existsSync(join(dir, folder))) {
      cpSync(join(dir, folder), join(out, dir, folder), {
        recursive: true,
        filter: (source) => !source.endsWith('.tsbuildinfo'),
      });
    }
  }
}
process.stdout.write(`prune-workspaces: ${app} needs ${workspaces.join(', ')}\n`);
