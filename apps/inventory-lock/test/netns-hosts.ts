import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureOutput, spawnTracked, stopChild } from '@redis-patterns/testkit';

/**
 * Test hosts in Linux network namespaces (root only): one bridge in this namespace, one
 * namespace per host with a veth into the bridge. A link is cut by pinning, on both sides, the
 * peer's address to a MAC no host has (a permanent neighbour entry): frames go nowhere, so open
 * TCP connections stall and new ones time out, as in a real partition. (A blackhole route would
 * fail `connect` at once with EINVAL, which no real network does; this kernel has no tc actions
 * and no iptables.) A host is cut from everyone by taking its veth down.
 */
export interface NetnsLab {
  /** The bridge's address: how the test reaches the hosts, and how they reach it. */
  readonly gateway: string;
  /** A second bridge address for services of this namespace that hosts can be cut from. */
  readonly services: string;
  addHost(name: string): Host;
  /** Cuts (or heals) every link between two hosts, both directions. */
  cut(a: Host, b: Host | string): void;
  heal(a: Host, b: Host | string): void;
  /** Takes the host's link down (cut from everyone), or back up. */
  isolate(host: Host): void;
  rejoin(host: Host): void;
  /** Forwards `services:<port>` to `127.0.0.1:<target>` (a server of this namespace). */
  forward(targetPort: number): Promise<number>;
  destroy(): Promise<void>;
}

export interface Spawned {
  child: ChildProcess;
  /** What it printed so far (bounded). */
  output(): string;
}

export interface Host {
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  /** Runs `command` inside the host's namespace, tracked (killed when the test process exits). */
  spawn(command: string, args: string[], env?: Record<string, string>): Spawned;
}

/** A locally administered MAC that no host of the lab has. */
const NOWHERE_MAC = '02:00:00:00:00:00';

const run = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/** True when this process may create namespaces (root with iproute2). */
export function netnsAvailable(): boolean {
  try {
    return process.getuid?.() === 0 && Boolean(execFileSync('ip', ['netns', 'list']));
  } catch {
    return process.getuid?.() === 0;
  }
}

export function createLab(): NetnsLab {
  const id = randomBytes(2).toString('hex');
  const subnet = `10.${100 + (parseInt(id, 16) % 150)}.${parseInt(id.slice(2), 16) % 250}`;
  const bridge = `ivb${id}`;
  const gateway = `${subnet}.1`;
  const services = `${subnet}.2`;
  const hosts: Array<Host & { veth: string }> = [];
  const children: ChildProcess[] = [];
  const proxies: Server[] = [];
  const sockets = new Set<Socket>();
  run('link', 'add', bridge, 'type', 'bridge');
  run('addr', 'add', `${gateway}/24`, 'dev', bridge);
  run('addr', 'add', `${services}/24`, 'dev', bridge);
  run('link', 'set', bridge, 'up');

  const route = (action: 'add' | 'del', from: Host, to: string) => {
    const dev = `${(hostOf(from) as { veth: string }).veth}p`;
    const neigh =
      action === 'add'
        ? ['neigh', 'replace', to, 'lladdr', NOWHERE_MAC, 'dev', dev, 'nud', 'permanent']
        : ['neigh', 'del', to, 'dev', dev];
    try {
      run('netns', 'exec', from.netns, 'ip', ...neigh);
    } catch (error) {
      if (action === 'add') throw error;
    }
  };
  const ipOf = (target: Host | string) => (typeof target === 'string' ? target : target.ip);
  const hostOf = (target: Host | string) =>
    typeof target === 'string' ? undefined : hosts.find((h) => h.name === target.name);

  return {
    gateway,
    services,
    addHost(name) {
      const index = hosts.length + 10;
      const netns = `iv${id}-${name}`;
      const veth = `iv${id}${index}`;
      const ip = `${subnet}.${index}`;
      run('netns', 'add', netns);
      run('link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`);
      run('link', 'set', `${veth}p`, 'netns', netns);
      run('link', 'set', veth, 'master', bridge);
      run('link', 'set', veth, 'up');
      run('netns', 'exec', netns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', `${veth}p`);
      run('netns', 'exec', netns, 'ip', 'link', 'set', `${veth}p`, 'up');
      run('netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up');
      const host = {
        name,
        ip,
        netns,
        veth,
        spawn(command: string, args: string[], env: Record<string, string> = {}) {
          const child = spawnTracked('ip', ['netns', 'exec', netns, command, ...args], {
            env: { ...process.env, ...env },
            detached: true,
          });
          const output = captureOutput(child);
          children.push(child);
          return { child, output };
        },
      };
      hosts.push(host);
      return host;
    },
    cut(a, b) {
      route('add', a, ipOf(b));
      const other = hostOf(b);
      if (other) route('add', other, a.ip);
    },
    heal(a, b) {
      route('del', a, ipOf(b));
      const other = hostOf(b);
      if (other) route('del', other, a.ip);
    },
    isolate(host) {
      run('link', 'set', (hostOf(host) as { veth: string }).veth, 'down');
    },
    rejoin(host) {
      run('link', 'set', (hostOf(host) as { veth: string }).veth, 'up');
    },
    async forward(targetPort) {
      const proxy = createServer((inbound) => {
        const outbound = connect(targetPort, '127.0.0.1');
        for (const socket of [inbound, outbound]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => undefined);
        }
        inbound.pipe(outbound);
        outbound.pipe(inbound);
        inbound.on('close', () => outbound.destroy());
        outbound.on('close', () => inbound.destroy());
      });
      proxies.push(proxy);
      await new Promise<void>((resolve) => proxy.listen(0, services, resolve));
      const address = proxy.address();
      if (!address || typeof address !== 'object') throw new Error('proxy has no address');
      return address.port;
    },
    async destroy() {
      await Promise.all(children.map((child) => stopChild(child, 'SIGKILL')));
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        proxies.map((proxy) => new Promise((resolve) => proxy.close(() => resolve(undefined)))),
      );
      for (const host of hosts) {
        try {
          run('netns', 'del', host.netns);
        } catch {
          // already gone
        }
      }
      try {
        run('link', 'del', bridge);
      } catch {
        // already gone
      }
    },
  };
}

/** A standalone redis-server listening on the host's address (port 6379), nothing persisted. */
export function redisOn(host: Host): { url: string; dir: string; stop(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'inv-netns-redis-'));
  const { child } = host.spawn('redis-server', [
    '--port',
    '6379',
    '--bind',
    host.ip,
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    '--dir',
    dir,
  ]);
  return {
    url: `redis://${host.ip}:6379`,
    dir,
    stop: async () => {
      await stopChild(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
