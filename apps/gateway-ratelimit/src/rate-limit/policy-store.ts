import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import { parsePolicies, type PolicySet } from './rate-limit-policy';

export interface PolicyStoreOptions {
  initial: PolicySet;
  /** The policy file to reload when it changes (a mounted ConfigMap); unset: no reload. */
  file?: string;
  /** How often the file is checked. @default 1000 */
  pollMs?: number;
  /** Extra validation of a new set (tiers that API keys name). */
  validate?: (set: PolicySet) => void;
  log: FastifyBaseLogger;
  onReload?: (result: 'ok' | 'invalid') => void;
}

/**
 * The policies in force, reloaded from their file without a restart. A new file is parsed and
 * validated first: a bad one keeps the policies in force and logs why, so a typo in a ConfigMap
 * can never leave the gateway without limits. Polled (`fs.watchFile`) rather than watched,
 * because a ConfigMap update swaps a symlink, which inotify watchers of the old file miss.
 */
export class PolicyStore {
  private set: PolicySet;
  private readonly listener = (now: Stats, before: Stats) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) {
      void this.reload();
    }
  };

  constructor(private readonly options: PolicyStoreOptions) {
    this.set = options.initial;
    if (options.file) {
      watchFile(
        options.file,
        { interval: options.pollMs ?? 1000, persistent: false },
        this.listener,
      );
    }
  }

  get current(): PolicySet {
    return this.set;
  }

  /** Reads, validates and applies the file; resolves with what happened. */
  async reload(): Promise<'ok' | 'invalid'> {
    const file = this.options.file;
    if (!file) return 'ok';
    let next: PolicySet;
    try {
      next = parsePolicies(JSON.parse(await readFile(file, 'utf8')));
      this.options.validate?.(next);
    } catch (error) {
      this.options.log.error(
        { file, reason: (error as Error).message },
        'rate-limit policy file rejected; the policies in force are kept',
      );
      this.options.onReload?.('invalid');
      return 'invalid';
    }
    this.set = next;
    this.options.log.info({ file }, 'rate-limit policies reloaded');
    this.options.onReload?.('ok');
    return 'ok';
  }

  close(): void {
    if (this.options.file) unwatchFile(this.options.file, this.listener);
  }
}
