import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import {
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { testConfig } from './chat-harness';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  process.stderr.write(
    `chat-browser: SKIPPED, ${CHROMIUM} is absent (Debian: apt-get install chromium; CI installs it)\n`,
  );
}
const describeWithBrowser = haveChromium ? describe : describe.skip;

jest.setTimeout(60000);

describeWithBrowser('the chat page in headless Chromium, on two replicas', () => {
  let redis: RedisServer;
  let replicas: Replicas<ServiceInstance>;
  let context: BrowserContext | undefined;
  let profile: string;

  beforeAll(async () => {
    redis = await startRedis();
    const prefix = uniquePrefix('chat');
    replicas = await startReplicas(2, () => buildApp(testConfig(redis.url, prefix)));
    profile = mkdtempSync(join(tmpdir(), 'chat-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 720 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await context?.close();
    await replicas?.close();
    await redis?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows a message typed on one replica in the page of the other', async () => {
    const browser = context as BrowserContext;
    // Two origins (ports), so two separate guests.
    const [ada, bob] = await Promise.all([browser.newPage(), browser.newPage()]);
    const errors: string[] = [];
    for (const page of [ada, bob]) page.on('pageerror', (error) => errors.push(error.message));
    await ada.goto(`${replicas.url(0)}/`);
    await bob.goto(`${replicas.url(1)}/`);
    for (const [page, name] of [
      [ada, 'Ada'],
      [bob, 'Bob'],
    ] as const) {
      await page.fill('#name', name);
      await page.fill('#room', 'browsers');
      await page.click('#join');
      await page.waitForSelector('#text:not([disabled])');
    }
    await bob.locator('#online li').nth(1).waitFor();

    await ada.fill('#text', 'Hello from replica 1');
    await ada.press('#text', 'Enter');
    await bob.waitForSelector('#messages li:has-text("Hello from replica 1")');
    await bob.fill('#text', 'Hi Ada, this is replica 2');
    await bob.click('#send');
    await ada.waitForSelector('#messages li:has-text("Hi Ada, this is replica 2")');
    await bob.waitForSelector('#messages li.mine:not(.pending)');

    expect(await bob.locator('#online li').allTextContents()).toEqual(['Ada', 'Bob']);
    expect(await bob.locator('#messages li .text').allTextContents()).toEqual([
      'Hello from replica 1',
      'Hi Ada, this is replica 2',
    ]);
    expect(errors).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await bob.screenshot({ path: join(ARTIFACTS, 'chat-two-replicas.png') });
  });
});
