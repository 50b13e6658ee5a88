import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './create-redis';
import { ackConnections, writeAcknowledged } from './replica-ack';

type ScriptArg = string | number | Buffer;
type ScriptCommand = (...args: ScriptArg[]) => Promise<unknown>;

/**
 * A Lua script run through ioredis `defineCommand`: EVALSHA first, EVAL on NOSCRIPT (ioredis
 * does the fallback), so the script body crosses the wire once per connection. `Keys` is the
 * exact count of KEYS, checked on every call.
 */
export class LuaScript<Keys extends string[], Args extends ScriptArg[], Result> {
  constructor(
    /** Command name; unique per client. */
    readonly name: string,
    readonly numberOfKeys: Keys['length'],
    readonly lua: string,
  ) {}

  /**
   * Loads `<name>-<numberOfKeys>.lua` (the BullMQ naming), taking the key count from the file
   * name so the two cannot disagree.
   */
  static fromFile<Keys extends string[], Args extends ScriptArg[], Result>(
    path: string,
  ): LuaScript<Keys, Args, Result> {
    const match = /^([a-z0-9-]+)-(\d+)\.lua$/.exec(basename(path));
    if (!match) throw new Error(`Lua file name must be <name>-<numberOfKeys>.lua: ${path}`);
    const name = match[1].replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    return new LuaScript(name, Number(match[2]), readFileSync(path, 'utf8'));
  }

  /** Defines the command on `client` once; later calls are no-ops. */
  register(client: RedisClient): void {
    if (typeof (client as unknown as Record<string, unknown>)[this.name] === 'function') return;
    client.defineCommand(this.name, { numberOfKeys: this.numberOfKeys, lua: this.lua });
  }

  /** Runs the script (registering it first if needed). */
  async run(client: RedisClient, keys: Keys, args: Args): Promise<Result> {
    if (keys.length !== this.numberOfKeys) {
      throw new Error(`${this.name} takes ${this.numberOfKeys} keys, got ${keys.length}`);
    }
    this.register(client);
    const command = (client as unknown as Record<string, ScriptCommand>)[this.name];
    return (await command.call(client, ...keys, ...args)) as Result;
  }

  /**
   * Runs the script and then `WAIT`s on the same connection per the client's replica-ack
   * policy (a no-op wait on standalone): for writes a failover must not undo. Rejects with
   * `ReplicaAckError` when too few replicas hold the write in time.
   */
  async runAcknowledged(client: RedisClient, keys: Keys, args: Args): Promise<Result> {
    if (keys.length !== this.numberOfKeys) {
      throw new Error(`${this.name} takes ${this.numberOfKeys} keys, got ${keys.length}`);
    }
    // A pipeline takes its client's commands when created: define the script on each first.
    for (const connection of ackConnections(client)) this.register(connection);
    const [reply] = await writeAcknowledged(client, (pipeline) => {
      const command = (
        pipeline as unknown as Record<string, (...a: ScriptArg[]) => ChainableCommander>
      )[this.name];
      return command.call(pipeline, ...keys, ...args);
    });
    return reply as Result;
  }
}
