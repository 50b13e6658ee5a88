import { performance } from 'node:perf_hooks';
import { io as connectClient, type Socket } from 'socket.io-client';
import {
  percentile,
  ratio,
  startRedis,
  startReplicas,
  uniquePrefix,
  writeBenchReport,
  type ScenarioResult,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { defaultChatConfig, type AppConfig } from '../src/config';

// Bounded load on 127.0.0.1 only: CLIENTS sockets in one room, SENDERS of them sending in a
// closed loop (next message after the ack) for DURATION_MS; every socket receives every message.
const CLIENTS = 40;
const SENDERS = 4;
const WARMUP_MS = 1000;
const DURATION_MS = 5000;
const ROUNDS = 3;

interface Run {
  scenario: string;
  replicas: number;
  adapter: 'redis' | 'memory';
}

async function measure(redisUrl: string, run: Run): Promise<ScenarioResult> {
  const config: AppConfig = {
    logLevel: 'silent',
    redis: { url: redisUrl },
    keyPrefix: uniquePrefix('bench-chat'),
    chat: {
      ...defaultChatConfig,
      allowGuests: true,
      rateLimitMax: 1_000_000,
      adapter: run.adapter,
    },
  };
  const replicas = await startReplicas(run.replicas, () => buildApp(config));
  const sockets: Socket[] = [];
  const latencies: number[] = [];
  let recording = false;
  let deliveries = 0;
  try {
    for (let i = 0; i < CLIENTS; i += 1) {
      const socket = connectClient(replicas.url(i), {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth: { name: `bench${i}`, guestId: `bench-guest-${i}` },
      });
      socket.on('message', (message: { text: string }) => {
        if (!recording) return;
        deliveries += 1;
        latencies.push(performance.now() - Number(message.text));
      });
      sockets.push(socket);
    }
    await Promise.all(
      sockets.map((socket) => socket.timeout(10000).emitWithAck('join', { room: 'bench' })),
    );

    let sent = 0;
    let failed = 0;
    let stop = false;
    const senders = sockets.slice(0, SENDERS).map(async (socket, s) => {
      for (let n = 0; !stop; n += 1) {
        const ack = await socket
          .timeout(10000)
          .emitWithAck('message', {
            room: 'bench',
            text: String(performance.now()),
            clientMsgId: `s${s}-${n}`,
          })
          .catch(() => ({ error: 'timeout' }));
        if (!recording) continue;
        if ('error' in ack) failed += 1;
        else sent += 1;
      }
    });
    await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
    recording = true;
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
    stop = true;
    const elapsedS = (performance.now() - started) / 1000;
    await Promise.all(senders);
    // Let the last broadcasts arrive; they are counted but not in the rate's time.
    await new Promise((resolve) => setTimeout(resolve, 300));
    recording = false;
    return {
      scenario: run.scenario,
      requests: sent,
      rps: Math.round(sent / elapsedS),
      p50Ms: Math.round(percentile(latencies, 50) * 100) / 100,
      p99Ms: Math.round(percentile(latencies, 99) * 100) / 100,
      errors: failed,
      non2xx: 0,
      deliveredPerSec: Math.round(deliveries / elapsedS),
      clients: CLIENTS,
      replicas: run.replicas,
    };
  } finally {
    for (const socket of sockets) socket.close();
    await replicas.close();
  }
}

function median(rounds: ScenarioResult[]): ScenarioResult {
  const sorted = [...rounds].sort((a, b) => Number(a.deliveredPerSec) - Number(b.deliveredPerSec));
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const redis = await startRedis();
  try {
    const ceilingRun: Run = {
      scenario: 'one server, in-memory adapter (ceiling)',
      replicas: 1,
      adapter: 'memory',
    };
    const spreadRun: Run = {
      scenario: `2 replicas + redis adapter, ${CLIENTS / 2} clients each`,
      replicas: 2,
      adapter: 'redis',
    };
    // Alternating rounds, reported by their median throughput: a shared 2-core machine is noisy
    // and a single round can land on a burst of someone else's work.
    const ceilings: ScenarioResult[] = [];
    const spreads: ScenarioResult[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      ceilings.push(await measure(redis.url, ceilingRun));
      spreads.push(await measure(redis.url, spreadRun));
    }
    const ceiling = median(ceilings);
    const spread = median(spreads);
    writeBenchReport({
      service: 'chat-realtime',
      scenarios: [ceiling, spread],
      ratios: {
        'delivered/s: 2 replicas / ceiling': ratio(
          Number(spread.deliveredPerSec),
          Number(ceiling.deliveredPerSec),
        ),
        'stored msgs/s: 2 replicas / ceiling': ratio(spread.rps, ceiling.rps),
        'p50 delivery: 2 replicas / ceiling': ratio(spread.p50Ms, ceiling.p50Ms),
        'p99 delivery: 2 replicas / ceiling': ratio(spread.p99Ms, ceiling.p99Ms),
      },
      targets: {
        'no failed sends': spread.errors === 0 && ceiling.errors === 0,
        'every message delivered to every client':
          Number(spread.deliveredPerSec) >= spread.rps * CLIENTS * 0.95,
      },
      notes: {
        rounds: `${ROUNDS} alternating rounds per scenario; the median round (by deliveries/s) is reported`,
        spread: `deliveries/s per round: ceiling ${ceilings.map((r) => r.deliveredPerSec).join(', ')}; 2 replicas ${spreads.map((r) => r.deliveredPerSec).join(', ')}`,
        load: `${CLIENTS} socket.io-client sockets in one room, ${SENDERS} senders in a closed loop (next send after the ack), ${DURATION_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up`,
        latency: 'send (client) to receipt by every member socket, same process clock',
        setup:
          'servers and clients share this one Node process and machine; both scenarios store in the same Redis Stream (XADD before broadcast)',
      },
    });
  } finally {
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
