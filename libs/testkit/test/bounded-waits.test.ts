import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  processServer,
  spawnTracked,
  startPostgres,
  startServiceProcess,
  waitUntilReady,
} from '@redis-patterns/testkit';

/** Live processes whose command line contains `text` (zombies excluded). */
function processesWith(text: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .filter((line) => line.includes(text) && !line.trim().startsWith('Z'))
    .filter((line) => !line.includes('ps -eo'));
}

/** A sleep length no other process uses, so `ps` finds exactly the sleeps a test started. */
const uniqueSeconds = () => `${300 + Math.floor(Math.random() * 600)}.${process.pid}`;

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'testkit-bounds-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('every start is bounded, and what never became ready is killed', () => {
  it('kills a child and the processes it forked when it is not ready in time', async () => {
    const marker = `sleep ${uniqueSeconds()}`;
    // The child forks a grandchild (like the PostgreSQL runner forks postgres) and never is ready.
    const child = spawnTracked('sh', ['-c', `${marker} & echo forked; wait`], { detached: true });
    const started = Date.now();
    await expect(
      waitUntilReady(child, {
        what: 'a child that is never ready',
        timeoutMs: 500,
        ready: () => new Promise<never>(() => {}),
        output: () => 'forked',
      }),
    ).rejects.toThrow(
      /^a child that is never ready: not ready within 500 ms, killed it after \d+ ms; its last output:\nforked$/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(child.signalCode).toBe('SIGKILL');
    const deadline = Date.now() + 2000;
    while (processesWith(marker).length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(processesWith(marker)).toEqual([]);
  });

  it('fails at once, with its output, when the child exits before it is ready', async () => {
    const child = spawnTracked(process.execPath, ['-e', 'console.error("boom"); process.exit(3)']);
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await expect(
      waitUntilReady(child, {
        what: 'a crashing child',
        timeoutMs: 10000,
        ready: () => new Promise<never>(() => {}),
        output: () => output,
      }),
    ).rejects.toThrow(
      /^a crashing child: exited \(code 3\) before it was ready after \d+ ms; its last output:\nboom$/,
    );
  });

  it('redis-server that never listens on its port: killed, and the error names the address', async () => {
    const socket = join(scratch, 'redis.sock');
    const started = Date.now();
    const error = await processServer({
      args: ['--port', '0', '--unixsocket', socket],
      startTimeoutMs: 1000,
    }).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^redis-server accepting connections on 127\.0\.0\.1:\d+: not ready within 1000 ms, killed it/,
    );
    expect(Date.now() - started).toBeLessThan(4000);
    expect(processesWith(socket)).toEqual([]);
  });

  it('a service that accepts connections but never answers /health/ready: killed in time', async () => {
    const server = join(scratch, 'silent-server.js');
    writeFileSync(
      server,
      "require('node:net').createServer(() => {}).listen(Number(process.env.PORT), '127.0.0.1');\n",
    );
    const started = Date.now();
    await expect(startServiceProcess(server, {}, 3000)).rejects.toThrow(
      /silent-server\.js answering 200 on http:\/\/127\.0\.0\.1:\d+\/health\/ready: not ready within 3000 ms, killed it/,
    );
    expect(Date.now() - started).toBeLessThan(6000);
    expect(processesWith(server)).toEqual([]);
  });

  it('an embedded PostgreSQL that is not ready in time: runner, initdb and postgres all killed', async () => {
    const started = Date.now();
    const error = await startPostgres({ faults: true, readyTimeoutMs: 700 }).then(
      async (server) => {
        await server.stop();
        return undefined;
      },
      (caught: Error) => caught,
    );
    // A container (Docker present) has its own bounded start: this case is the embedded one.
    if (error === undefined) return;
    expect(error.message).toMatch(
      /^embedded PostgreSQL \(.*embedded-postgres\.mjs\) on 127\.0\.0\.1:(\d+) printing its ready line: not ready within 700 ms, killed it/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    const port = /127\.0\.0\.1:(\d+)/.exec(error.message)?.[1] as string;
    const leftovers = () =>
      processesWith(` ${port}`).filter((line) => /postgres|initdb/.test(line));
    const deadline = Date.now() + 3000;
    while (leftovers().length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(leftovers()).toEqual([]);
  });
});

describe('the Jest exit bound', () => {
  it('fails a run whose test leaves a child running, naming it, instead of hanging', () => {
    const fixture = join(__dirname, 'fixtures', 'leaky-project', 'jest.config.cjs');
    const started = Date.now();
    const leak = uniqueSeconds();
    const result = spawnSync(
      process.execPath,
      [require.resolve('jest/bin/jest'), '--config', fixture, '--runInBand'],
      {
        encoding: 'utf8',
        timeout: 60000,
        env: { ...process.env, TEST_EXIT_GRACE_S: '2', LEAKED_SLEEP_SECONDS: leak },
      },
    );
    // eslint-disable-next-line no-control-regex
    const stderr = result.stderr.replace(/\x1b\[[0-9;]*m/g, '');
    const named = new RegExp(`\\n +(\\d+) sleep ${leak.replace('.', '\\.')}\\n`).exec(stderr);
    // The leaked child is nobody's now: end it by the pid the message named.
    if (named) process.kill(Number(named[1]), 'SIGKILL');
    expect(result.signal).toBeNull();
    expect(result.status).toBe(1);
    expect(stderr).toMatch(/Tests: +1 passed, 1 total/);
    expect(stderr).toMatch(
      /jest \(leaky-fixture\): the tests are over but the process was still held open 2 s later/,
    );
    expect(stderr).toContain(`child processes: \n    `);
    expect(named).not.toBeNull();
    expect(Date.now() - started).toBeLessThan(45000);
  }, 60000);
});
