import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  composeConfigProblems,
  composeContractProblems,
  dockerfileProblems,
  readText,
} from '../src/docker-checks';
import { parse } from 'yaml';
import { deployableApps, repoRoot } from '../src/repo';

const dockerfile = join(repoRoot, 'docker', 'Dockerfile');
const composeFile = join(repoRoot, 'docker', 'compose.yaml');
let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'deploy-checks-docker-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('docker/Dockerfile', () => {
  it('lints clean with dockerfilelint', () => {
    expect(dockerfileProblems(readText(dockerfile))).toEqual([]);
  });

  it('is one multi-stage build per APP: Nx build, pruned deps, non-root, node as CMD', () => {
    const text = readText(dockerfile);
    expect(text.match(/^FROM node:(22|24)-\S*slim AS \w+$/gm)).toHaveLength(3);
    expect(text).toMatch(/npx nx run "\$\{APP\}:build"/);
    expect(text).toMatch(/npm install --omit=dev/);
    expect(text).toMatch(/^ENV NODE_ENV=production APP=\$\{APP\}$/m);
    expect(text).toMatch(/^USER 1000:1000$/m);
    expect(text).toMatch(/^HEALTHCHECK .*CMD \["node", "\/app\/healthcheck.cjs"\]$/m);
    expect(text).toMatch(/^CMD \["node", "dist\/server.js"\]$/m);
  });

  it('lint catches a broken Dockerfile', () => {
    expect(
      dockerfileProblems('FROM node\nRUN apt-get install curl\nEXPOSE http\n').length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('prune step keeps exactly the app and its runtime libs, without test-only packages', () => {
    // CI builds before it tests (.ci/run); without dist/ the script must say so.
    const app = 'game-leaderboard';
    const out = join(scratch, 'deployable');
    const result = spawnSync('node', [join(repoRoot, 'docker', 'prune-workspaces.cjs'), app, out], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    const built = [`apps/${app}`, 'libs/redis-core', 'libs/service-kit'].every((dir) =>
      existsSync(join(repoRoot, dir, 'dist')),
    );
    if (!built) {
      expect(result.stderr).toMatch(/dist is missing \(build first\)/);
      return;
    }
    expect(result.stderr).toBe('');
    const readJson = (file: string): Record<string, unknown> =>
      JSON.parse(readFileSync(join(out, file), 'utf8')) as Record<string, unknown>;
    expect(readJson('package.json').workspaces).toEqual([
      `apps/${app}`,
      'libs/redis-core',
      'libs/service-kit',
    ]);
    expect(readJson('package.json').devDependencies).toBeUndefined();
    expect(readJson(`apps/${app}/package.json`).devDependencies).toBeUndefined();
    expect(existsSync(join(out, 'apps', app, 'dist', 'server.js'))).toBe(true);
    expect(existsSync(join(out, 'libs', 'testkit'))).toBe(false);
  });

  it('prune step refuses an APP that is not an app', () => {
    const result = spawnSync(
      'node',
      [join(repoRoot, 'docker', 'prune-workspaces.cjs'), 'no-such-app', join(scratch, 'x')],
      {
        cwd: repoRoot,
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/no apps\/no-such-app\/package.json/);
  });
});

describe('docker/compose.yaml', () => {
  it('validates against the Compose Specification schema, every reference resolving', () => {
    expect(composeConfigProblems(composeFile)).toEqual([]);
  });

  it('the vendored schema is the Compose Specification (draft-07)', () => {
    const schema = JSON.parse(
      readFileSync(join(__dirname, '..', 'schemas', 'compose-spec.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect([schema.$id, schema.title, schema.$schema]).toEqual([
      'compose_spec.json',
      'Compose Specification',
      'https://json-schema.org/draft-07/schema',
    ]);
  });

  it('builds every app (APP names a real app), two replicas each, gateway behind :8080', () => {
    const text = readText(composeFile);
    expect(composeContractProblems(text)).toEqual([]);
    interface Service {
      build?: { args: { APP: string } };
      deploy?: { replicas?: number };
      init?: boolean;
      healthcheck?: object;
      depends_on?: Record<string, { condition: string }>;
      ports?: string[];
    }
    const { services } = parse(text, { merge: true }) as { services: Record<string, Service> };
    const built = Object.values(services).filter((service) => service.build);
    expect(built.map((service) => service.build?.args.APP).sort()).toEqual(deployableApps());
    for (const service of built) {
      expect(service.deploy?.replicas).toBeGreaterThanOrEqual(2);
      expect(service.healthcheck).toBeDefined();
      expect(service.depends_on?.redis.condition).toBe('service_healthy');
    }
    expect(Object.values(services).every((service) => service.init === true)).toBe(true);
    expect(services.edge.ports).toEqual(['8080:8080']);
    expect(services.edge.depends_on?.['gateway-ratelimit'].condition).toBe('service_healthy');
  });

  it('fails on a broken compose file, an unknown APP, an unknown variable and a bad value', () => {
    const broken = readText(composeFile)
      .replace('APP: game-leaderboard', 'APP: game-leaderbord')
      .replace('CHAT_TRANSPORTS: websocket', 'CHAT_TRANSPORT: websocket')
      .replace('REDIS_KEY_PREFIX: inv', 'REDIS_KEY_PREFIX: inv space');
    expect(composeContractProblems(broken)).toEqual([
      expect.stringMatching(/^compose service inventory-lock: REDIS_KEY_PREFIX must be valid/),
      'compose service game-leaderboard: APP game-leaderbord names no app with a build script',
      "compose service chat-realtime: CHAT_TRANSPORT is not a variable of chat-realtime's envSchema",
    ]);
    const invalid = join(scratch, 'compose.yaml');
    writeFileSync(
      invalid,
      readText(composeFile).replace('condition: service_healthy', 'condition: healthy'),
    );
    // The first `condition` is in the anchor services merge from: each that keeps it reports it.
    const problems = composeConfigProblems(invalid);
    expect(problems).toContain(
      'compose /services/gateway-ratelimit/depends_on/redis/condition: must be equal to one of ' +
        'the allowed values (service_started, service_healthy, service_completed_successfully)',
    );
    for (const problem of problems) {
      expect(problem).toMatch(
        /^compose \/services\/[a-z-]+\/depends_on\/redis\/condition: must be equal/,
      );
    }
  });

  it('fails on an unknown field, a wrong type and invalid YAML, naming the path', () => {
    const file = join(scratch, 'typo.yaml');
    writeFileSync(
      file,
      readText(composeFile)
        .replace(
          '    init: true\n    healthcheck:',
          '    init: true\n    imagee: x\n    healthcheck:',
        )
        .replace('interval: 5s', 'interval: 5'),
    );
    expect(composeConfigProblems(file)).toEqual([
      'compose /services/redis: must NOT have additional properties ("imagee")',
      'compose /services/redis/healthcheck/interval: must be string',
    ]);
    writeFileSync(file, 'services:\n  a: [\n');
    expect(composeConfigProblems(file).join('\n')).toMatch(/^compose .*typo\.yaml: .*line 3/s);
  });

  it('fails on what the schema cannot see: dangling services, volumes and paths', () => {
    const dir = join(scratch, 'references');
    mkdirSync(join(dir, 'docker'), { recursive: true });
    const file = join(dir, 'docker', 'compose.yaml');
    writeFileSync(
      file,
      [
        'services:',
        '  api:',
        '    image: x',
        '    build: { context: .., dockerfile: docker/Dockerfile }',
        '    depends_on: { cache: { condition: service_healthy } }',
        '    volumes: [data:/data, ./missing.conf:/etc/x.conf:ro, /tmp-anonymous]',
        '    env_file: [.env.compose]',
        '    networks: [backend]',
        '',
      ].join('\n'),
    );
    expect(composeConfigProblems(file)).toEqual([
      'compose service api: depends_on cache, no such service',
      'compose service api: network backend is not declared under networks',
      'compose service api: volume data is not declared under volumes',
      'compose service api volume: ./missing.conf does not exist',
      'compose service api env_file: .env.compose does not exist',
      'compose service api build dockerfile: ../docker/Dockerfile does not exist',
    ]);
  });
});
