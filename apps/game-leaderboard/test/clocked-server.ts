// The service as its own process with a clock the test moves: `LEADERBOARD_TEST_CLOCK_FILE`
// holds "<fake ms> <real ms>" (the fake time at that real time). Tests that SIGKILL a replica
// run it through SOURCE_NODE_OPTIONS; never deployed.
import { readFileSync } from 'node:fs';
import { runService } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { configFromEnv, envSchema } from '../src/config';

const file = process.env.LEADERBOARD_TEST_CLOCK_FILE;
if (!file) throw new Error('LEADERBOARD_TEST_CLOCK_FILE is not set');
let offset = 0;
let readAt = 0;
const clock = (): number => {
  const now = Date.now();
  if (now - readAt > 20) {
    const [fake, real] = readFileSync(file, 'utf8').trim().split(' ').map(Number);
    offset = fake - real;
    readAt = now;
  }
  return now + offset;
};

void runService({
  envSchema,
  configFromEnv: (env) => ({ ...configFromEnv(env), clock }),
  build: buildApp,
});
