import type { ChildProcess } from 'node:child_process';
import { captureOutput, spawnTracked, stopChild, waitUntilReady } from './child-processes';
import { freePort } from './free-port';

/** A built service running as its own process (end-to-end and fault tests). */
export interface ServiceProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  output(): string;
  /** Sends a signal and waits for the exit code (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs `node <serverJs>` with `env` plus PORT/HOST, and waits for `/health/ready` = 200. A process
 * that exits, or is not ready within `readyTimeoutMs`, is killed and the start fails with its
 * output.
 */
export async function startServiceProcess(
  serverJs: string,
  env: Record<string, string>,
  readyTimeoutMs = 20000,
): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawnTracked(process.execPath, [serverJs], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
  });
  const output = captureOutput(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(child, {
    what: `${serverJs} answering 200 on ${url}/health/ready`,
    timeoutMs: readyTimeoutMs,
    ready: async (signal) => {
      while (!signal.aborted) {
        // One probe may not outlast the wait: a stalled server accepts and never answers.
        const probe = AbortSignal.any([signal, AbortSignal.timeout(2000)]);
        const ready = await fetch(`${url}/health/ready`, { signal: probe }).then(
          async (response) => {
            await response.body?.cancel();
            return response.status === 200;
          },
          () => false,
        );
        if (ready) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    output,
  });
  return {
    url,
    port,
    child,
    output,
    stop: async (signal = 'SIGTERM') => {
      await stopChild(child, signal, 10000);
      return child.exitCode;
    },
  };
}
