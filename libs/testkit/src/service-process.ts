import type { ChildProcess } from 'node:child_process';
import { captureOutput, spawnTracked, stopChild } from './child-processes';
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

/** Runs `node <serverJs>` with `env` plus PORT/HOST, and waits for `/health/ready` = 200. */
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
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${serverJs} exited with ${child.exitCode}: ${output()}`);
    const ready = await fetch(`${url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`${serverJs} not ready in ${readyTimeoutMs} ms: ${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
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
