import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const children = new Set<ChildProcess>();
/** Children spawned as the leader of their own process group: signals reach their whole tree. */
const groupLeaders = new WeakSet<ChildProcess>();

/** Spawned (a failed spawn has no pid and never exits) and not exited yet. */
function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * Signals the child, or its whole process group when it leads one (a runner's server binaries
 * must not outlive it). Never throws: the target may be gone already.
 */
function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    if (groupLeaders.has(child) && child.pid !== undefined) process.kill(-child.pid, name);
    else child.kill(name);
  } catch {
    // already gone
  }
}

// Whatever happens to the test (a failure, a timeout, a forgotten afterAll), no server started
// here outlives the process that started it.
process.on('exit', () => {
  for (const child of children) {
    signal(child, 'SIGCONT');
    signal(child, 'SIGKILL');
  }
});

/**
 * Spawns a child that is killed when this process exits. With `detached: true` the child leads
 * its own process group and every signal testkit sends (stop, kill on a failed start, exit) goes
 * to the group, so the processes it forked go with it (the embedded PostgreSQL runner's
 * `postgres` and `initdb`).
 */
export function spawnTracked(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  children.add(child);
  if (options.detached) groupLeaders.add(child);
  child.once('exit', () => {
    children.delete(child);
    // A leader that died abnormally may leave its group behind (e.g. the runner SIGKILLed).
    if (groupLeaders.has(child)) signal(child, 'SIGKILL');
  });
  return child;
}

/** How long a child may take to disappear after SIGKILL before `stopChild` gives up. */
const KILL_WAIT_MS = 5000;

/**
 * Sends `signal` and resolves when the child has exited: SIGKILL after `graceMs`, and a rejection
 * naming the pid when even that is not followed by an exit within 5 s (never a hang).
 */
export async function stopChild(
  child: ChildProcess,
  name: NodeJS.Signals = 'SIGTERM',
  graceMs = 5000,
): Promise<void> {
  if (!running(child)) return;
  const timers: NodeJS.Timeout[] = [];
  const exited = new Promise<void>((resolve, reject) => {
    child.once('exit', () => resolve());
    timers.push(
      setTimeout(() => signal(child, 'SIGKILL'), name === 'SIGKILL' ? 0 : graceMs),
      setTimeout(
        () =>
          reject(
            new Error(
              `pid ${child.pid} (${child.spawnfile}) did not exit within ${KILL_WAIT_MS} ms of SIGKILL`,
            ),
          ),
        (name === 'SIGKILL' ? 0 : graceMs) + KILL_WAIT_MS,
      ),
    );
  });
  signal(child, 'SIGCONT');
  // A group leader gets the polite signal alone, so it can stop what it started in order.
  if (name === 'SIGKILL') signal(child, name);
  else child.kill(name);
  try {
    await exited;
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

/** Collects a child's output, for error messages. */
export function captureOutput(child: ChildProcess, limit = 20000): () => string {
  let text = '';
  const add = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-limit);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

/** What `waitUntilReady` waits for. */
export interface ReadyWait<T> {
  /** Named in the error: `redis-server accepting connections on 127.0.0.1:6380`. */
  what: string;
  /** The bound on the whole wait. */
  timeoutMs: number;
  /**
   * Resolves once the child is ready. Its signal aborts when the wait ends either way, so a
   * polling loop stops with it.
   */
  ready: (signal: AbortSignal) => Promise<T>;
  /** The child's output so far, quoted in the error. */
  output?: () => string;
}

/** The error a failed `waitUntilReady` rejects with; `exited` tells a crash from a timeout. */
export class ChildNotReadyError extends Error {
  constructor(
    message: string,
    readonly output: string,
    readonly exited: boolean,
  ) {
    super(message);
    this.name = 'ChildNotReadyError';
  }
}

/**
 * Waits until `wait.ready` resolves. When the child exits first, when `ready` rejects, or when
 * `timeoutMs` passes, the child (and its process group) is killed and the promise rejects with a
 * message naming what it waited for, how long, and the child's last output. Never waits longer
 * than `timeoutMs` plus the time a SIGKILL takes.
 */
export async function waitUntilReady<T>(child: ChildProcess, wait: ReadyWait<T>): Promise<T> {
  const controller = new AbortController();
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let onExit: ((code: number | null, name: NodeJS.Signals | null) => void) | undefined;
  let onError: ((error: Error) => void) | undefined;
  const failure = new Promise<never>((_, reject) => {
    const fail = (reason: string, exited: boolean) => {
      const output = wait.output?.().trim() ?? '';
      reject(
        new ChildNotReadyError(
          `${wait.what}: ${reason} after ${Date.now() - started} ms` +
            (output ? `; its last output:\n${output.slice(-4000)}` : ' (it printed nothing)'),
          output,
          exited,
        ),
      );
    };
    onExit = (code, name) => fail(`exited (${name ?? `code ${code}`}) before it was ready`, true);
    onError = (error) => fail(`could not be started (${error.message})`, true);
    child.once('exit', onExit);
    child.once('error', onError);
    timer = setTimeout(
      () => fail(`not ready within ${wait.timeoutMs} ms, killed it`, false),
      wait.timeoutMs,
    );
  });
  try {
    if (!running(child)) {
      throw new ChildNotReadyError(`${wait.what}: exited before it was ready`, '', true);
    }
    return await Promise.race([wait.ready(controller.signal), failure]);
  } catch (error) {
    await stopChild(child, 'SIGKILL');
    throw error;
  } finally {
    controller.abort();
    clearTimeout(timer);
    if (onExit) child.off('exit', onExit);
    if (onError) child.off('error', onError);
    failure.catch(() => {});
  }
}
