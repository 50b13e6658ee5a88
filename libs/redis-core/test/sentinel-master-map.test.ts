import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { closeRedis, createRedis } from '@redis-patterns/redis-core';
import {
  freePort,
  startTopology,
  uniquePrefix,
  until,
  type RedisServer,
  type RedisTopology,
} from '@redis-patterns/testkit';

const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

/**
 * A Sentinel that never learns of a failover: it names `master` forever, as a real one does
 * until it has the new configuration (the failover's leader, about 1 s after the others here).
 * It speaks just enough RESP for ioredis: the master query, the Sentinel list, subscriptions.
 */
async function staleSentinel(
  master: RedisServer,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      // Requests are RESP arrays of bulk strings: *N\r\n($len\r\nword\r\n)*N
      for (;;) {
        const words = parseCommand(buffered);
        if (!words) return;
        buffered = buffered.slice(words.length);
        const [name, sub] = words.args.map((w) => w.toLowerCase());
        if (name === 'sentinel' && sub === 'get-master-addr-by-name') {
          socket.write(`*2\r\n${bulk(master.host)}${bulk(String(master.port))}`);
        } else if (name === 'sentinel') {
          socket.write('*0\r\n');
        } else if (name === 'subscribe' || name === 'psubscribe') {
          socket.write(`*3\r\n${bulk(name)}${bulk(words.args[1])}:1\r\n`);
        } else {
          socket.write('+OK\r\n');
        }
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseCommand(text: string): { args: string[]; length: number } | undefined {
  const header = /^\*(\d+)\r\n/.exec(text);
  if (!header) return undefined;
  let at = header[0].length;
  const args: string[] = [];
  for (let i = 0; i < Number(header[1]); i += 1) {
    const size = /^\$(\d+)\r\n/.exec(text.slice(at));
    if (!size) return undefined;
    at += size[0].length;
    const end = at + Number(size[1]);
    if (text.length < end + 2) return undefined;
    args.push(text.slice(at, end));
    at = end + 2;
  }
  return { args, length: at };
}

describe('redis-core on Sentinel: a client follows the failover past a stale Sentinel', () => {
  let topology: RedisTopology;
  let stale: { port: number; close(): Promise<void> } | undefined;
  let client: Redis | undefined;

  beforeAll(async () => {
    topology = await startTopology('sentinel');
    await topology.converged();
  }, 60_000);
  afterAll(async () => {
    if (client) await closeRedis(client);
    await stale?.close();
    await topology?.stop();
  });

  it('never reconnects to a partitioned master that a stale Sentinel still names, so its writes survive', async () => {
    const original = await topology.master();
    stale = await staleSentinel(original);
    // The stale one first: ioredis asks the Sentinels in order and keeps the one that answered.
    client = createRedis({
      ...topology.config,
      sentinels: [{ host: '127.0.0.1', port: stale.port }, ...(topology.config.sentinels ?? [])],
      commandTimeoutMs: 500,
    }) as Redis;
    const connectedTo = () => (client?.status === 'ready' ? client.stream.remotePort : undefined);
    await until(
      'the client ready on the first master',
      async () => connectedTo() === original.port || undefined,
      10_000,
    );

    const { newMaster, heal } = await topology.partitionMaster();
    // Without following +switch-master, it went back to the paused master here, forever.
    await until(
      `the client ready on the promoted master ${newMaster.port}`,
      async () => connectedTo() === newMaster.port || undefined,
      15_000,
    );
    await heal();
    // The resumed master still calls itself master until Sentinel demotes it: nothing may go there.
    const key = `${uniquePrefix('map')}:after-heal`;
    await client.set(key, 'kept');
    expect(connectedTo()).toBe(newMaster.port);
    await topology.converged();
    expect(await client.get(key)).toBe('kept');
    const direct = new Redis(newMaster.url);
    try {
      expect(await direct.get(key)).toBe('kept');
    } finally {
      direct.disconnect();
    }
  }, 90_000);
});
