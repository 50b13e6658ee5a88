// `npm start`: builds, then runs Redis, PostgreSQL and every service with 2 replicas behind the
// gateway on :3000, prints what runs where, and stops everything on Ctrl-C or SIGTERM.
'use strict';
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');
const { startCluster } = require('./cluster.cjs');

async function main() {
  const started = Date.now();
  if (!process.argv.includes('--no-build')) {
    console.log('building every service (nx run-many -t build)...');
    const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], {
      cwd: join(__dirname, '..', '..'),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (build.status !== 0) {
      console.error('build failed: run `npx nx run-many -t build` to see why');
      process.exit(1);
    }
  }
  let cluster;
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping every process...`);
    if (cluster) await cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  try {
    cluster = await startCluster({ replicas: 2, echo: process.argv.includes('--logs') });
  } catch (error) {
    console.error(`npm start failed: ${error.message}`);
    process.exit(1);
  }
  console.log(
    `\nall ${cluster.instances.length} service processes ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  const rows = cluster.instances.map((i) => [i.service, `#${i.index}`, i.url, String(i.child.pid)]);
  rows.push(['redis', '', cluster.redisUrl, '']);
  rows.push(['postgres', '', new URL(cluster.databaseUrl).host, '']);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length), 8));
  const line = (r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ');
  console.log(line(['service', 'replica', 'url', 'pid']));
  for (const row of rows) console.log(line(row));
  console.log(
    `\nopen ${cluster.gatewayUrl.replace(/:\d+$/, ':3000')}/chat for the chat page, /api/... for the APIs; Ctrl-C stops everything.`,
  );
}

void main();
