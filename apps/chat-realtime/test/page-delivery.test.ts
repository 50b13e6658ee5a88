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

// What the functions run inside the page use (the page's CSP forbids evaluating strings); this
// test compiles without the DOM library.
declare const document: {
  querySelectorAll(selector: string): { length: number };
  documentElement: { scrollWidth: number };
};
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
jest.setTimeout(60000);

describe('the chat page in headless Chromium, on two replicas', () => {
  let redis: RedisServer;
  let replicas: Replicas<ServiceInstance>;
  let context: BrowserContext | undefined;
  let profile: string;

  beforeAll(async () => {
    // A prerequisite (tools/prerequisites.sh), so its absence fails here instead of skipping.
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is absent: run tools/prerequisites.sh --install (Debian: chromium)`,
      );
    }
    redis = await startRedis({ faults: true });
    const prefix = uniquePrefix('chat');
    replicas = await startReplicas(2, () =>
      buildApp(testConfig({ redis: { url: redis.url }, keyPrefix: prefix })),
    );
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
    // Read receipts: Bob's page reported reading Ada's message, Ada's page says so.
    await ada.waitForSelector('#messages li.mine .receipt:has-text("read by 1")');

    expect(await bob.locator('#online li').allTextContents()).toEqual([
      'Ada (guest)',
      'Bob (guest)',
    ]);
    expect(await bob.locator('#messages li .text').allTextContents()).toEqual([
      'Hello from replica 1',
      'Hi Ada, this is replica 2',
    ]);
    expect(errors).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await bob.screenshot({ path: join(ARTIFACTS, 'chat-two-replicas.png') });

    // Redis paused 3 s while Ada sends: the page keeps each send pending and sends it again
    // with the same clientMsgId until it is acknowledged; none is ever shown as failed.
    const texts = Array.from({ length: 5 }, (_, n) => `during the pause ${n}`);
    await redis.pause();
    try {
      for (const text of texts) {
        await ada.fill('#text', text);
        await ada.press('#text', 'Enter');
      }
      await ada.waitForTimeout(3000);
      expect(await ada.locator('#messages li.failed').count()).toBe(0);
      expect(await ada.locator('#messages li.pending').count()).toBe(texts.length);
    } finally {
      await redis.resume();
    }
    const expected = ['Hello from replica 1', 'Hi Ada, this is replica 2', ...texts];
    for (const page of [ada, bob]) {
      await page.waitForFunction(
        (count) =>
          document.querySelectorAll('#messages li[data-offset]').length === count &&
          document.querySelectorAll('#messages li.pending').length === 0,
        expected.length,
        { timeout: 20000 },
      );
      expect(await page.locator('#messages li .text').allTextContents()).toEqual(expected);
      expect(await page.locator('#messages li.failed, #messages li.pending').count()).toBe(0);
    }
    expect(errors).toEqual([]);
  });

  it('fits a 375 px phone screen: one column, who is online under the messages', async () => {
    const browser = context as BrowserContext;
    const page = await browser.newPage();
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${replicas.url(0)}/#narrow`);
    await page.fill('#name', 'Phone');
    await page.click('#join');
    await page.waitForSelector('#text:not([disabled])');
    await page.locator('#online li').first().waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(375);
    const online = await page.locator('aside').boundingBox();
    const messages = await page.locator('#messages').boundingBox();
    expect(online && messages && online.x + online.width <= 375).toBe(true);
    expect(online && messages && online.y >= messages.y + messages.height).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'chat-375px.png'), fullPage: true });
    await page.close();
  });
});
