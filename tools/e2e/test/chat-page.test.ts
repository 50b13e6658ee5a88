// The chat page in headless Chromium, as two logged-in users through the gateway of the local
// system (every service with two replicas): replicas killed and stopped, Redis paused, while one
// user sends; every message must reach both pages exactly once, in order, none shown as failed.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { delay, eventually, perFileFixture } from '@redis-patterns/testkit';
import { metricSum, startTestCluster, stopInstance } from '../src/test-cluster';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');

// What the functions run inside the page use; this suite compiles without the DOM library.
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  documentElement: { scrollWidth: number };
};

describe('the chat page through the gateway, two logged-in users on separate chat replicas', () => {
  const tag = randomUUID().slice(0, 8);
  const system = perFileFixture(
    async (cleanup) => {
      // A prerequisite (tools/prerequisites.sh), so its absence fails here instead of skipping.
      if (!existsSync(CHROMIUM)) {
        throw new Error(
          `${CHROMIUM} is absent: run tools/prerequisites.sh --install (Debian: chromium)`,
        );
      }
      const cluster = await startTestCluster();
      cleanup(() => cluster.close());
      const browser: Browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
      });
      cleanup(() => browser.close());
      return { cluster, browser };
    },
    { timeoutMs: 180_000 },
  );
  const chat = () => system().cluster.instances.filter((i) => i.service === 'chat-realtime');
  const connectedOn = () =>
    Promise.all(chat().map((i) => metricSum(i.url, 'chat_connected_sockets')));

  /** A user's page in its own browser context (own cookies): registered, logged in, in `room`. */
  async function userPage(username: string, room: string, errors: string[]): Promise<Page> {
    const context = await system().browser.newContext({
      viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(`${username}: ${error.message}`));
    await page.goto(`${system().cluster.gatewayUrl}/chat/#${room}`);
    await page.getByLabel('Username', { exact: true }).fill(username);
    await page.getByLabel('Password', { exact: true }).fill(`password-of-${username}`);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText(`Signed in as ${username}`).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Join' }).click();
    await page.waitForSelector('#text:not([disabled])', { timeout: 30_000 });
    return page;
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.getByLabel('Message', { exact: true }).fill(text);
    await page.getByLabel('Message', { exact: true }).press('Enter');
  }

  it('delivers every message exactly once, in order, through SIGKILL, SIGTERM and a Redis pause', async () => {
    const errors: string[] = [];
    const room = `page-${tag}`;
    const ada = await userPage(`ada-${tag}`, room, errors);
    const bob = await userPage(`bob-${tag}`, room, errors);
    // The gateway balances upgrades round-robin: reload Bob's page until the two users sit on
    // different chat replicas.
    for (let attempt = 0; ; attempt += 1) {
      // Both pages joined: once the metric counts exactly their two sockets (a reloaded page's
      // old one gone), it says where they sit.
      const counts = await eventually(
        'exactly the two pages counted in chat_connected_sockets',
        async () => {
          const now = await connectedOn();
          expect(now.reduce((sum, n) => sum + n, 0)).toBe(2);
          return now;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      if (counts.every((n) => n === 1)) break;
      if (attempt === 8) throw new Error(`not on separate replicas: ${counts.join(', ')}`);
      await bob.reload();
      await bob.getByRole('button', { name: 'Join' }).click();
      await bob.waitForSelector('#text:not([disabled])');
    }
    expect(await ada.locator('#whoami').textContent()).toBe(`Signed in as ada-${tag}`);
    await bob.locator('#online li').nth(1).waitFor();
    expect((await bob.locator('#online li').allTextContents()).sort()).toEqual([
      `ada-${tag}`,
      `bob-${tag}`,
    ]);

    await send(ada, 'hello bob');
    await bob.waitForSelector('#messages li:has-text("hello bob")');
    await send(bob, 'hello ada');
    await ada.waitForSelector('#messages li:has-text("hello ada")');
    mkdirSync(ARTIFACTS, { recursive: true });
    await ada.screenshot({ path: join(ARTIFACTS, 'chat-page-1280px.png') });

    // Ada sends 20 messages: chat replica #0 is SIGKILLed after the 5th, #1 SIGTERMed after
    // the 10th (once #0 is back), Redis paused 3 s from the 15th; the sends are not held back.
    const { cluster } = system();
    const [first, second] = chat();
    // Each reconnect opens a new WebSocket: the faults below must cause at least one per page
    // that sat on the replica stopped (one page on each).
    let reconnects = 0;
    for (const page of [ada, bob]) page.on('websocket', () => (reconnects += 1));
    expect(cluster.redis).not.toBeNull();
    const texts = Array.from({ length: 20 }, (_, n) => `message ${n + 1} of 20`);
    let restarting: Promise<void> = Promise.resolve();
    for (const [n, text] of texts.entries()) {
      if (n === 5) {
        await stopInstance(first, 'SIGKILL', 15_000);
        restarting = cluster.restart(first);
      }
      if (n === 10) {
        await restarting;
        await stopInstance(second, 'SIGTERM', 20_000);
        restarting = cluster.restart(second);
      }
      if (n === 15) {
        await restarting;
        await cluster.redis?.pause();
      }
      await send(ada, text);
      // The pace of the sends, through the faults (slower while Redis is paused).
      await delay(n >= 15 ? 600 : 150);
      if (n === 19) {
        // Still paused: the newest sends wait, pending, not failed.
        expect(await ada.locator('#messages li.pending').count()).toBeGreaterThan(0);
        expect(await ada.locator('#messages li.failed').count()).toBe(0);
        await cluster.redis?.resume();
      }
    }
    // While Redis was paused the sends stayed pending (retried with the same clientMsgId).
    expect(await ada.locator('#messages li.failed').count()).toBe(0);

    const expected = ['hello bob', 'hello ada', ...texts];
    for (const page of [ada, bob]) {
      await page.waitForFunction(
        (count) =>
          document.querySelectorAll('#messages li[data-offset]').length === count &&
          document.querySelectorAll('#messages li.pending, #messages li.failed').length === 0,
        expected.length,
        { timeout: 60_000 },
      );
      expect(await page.locator('#messages li .text').allTextContents()).toEqual(expected);
      const items = page.locator('#messages li[data-id]');
      const ids = new Set<string | null>();
      for (let i = 0; i < (await items.count()); i += 1) {
        ids.add(await items.nth(i).getAttribute('data-id'));
      }
      expect(ids.size).toBe(expected.length);
      expect(await page.locator('#messages li.failed, #messages li.pending').count()).toBe(0);
    }
    expect(reconnects).toBeGreaterThanOrEqual(2);
    // Whichever replica each page reconnected to, the other member's messages reached it.
    await ada.waitForSelector('#messages li.mine .receipt:has-text("delivered to 1")');

    await ada.screenshot({ path: join(ARTIFACTS, 'chat-page-after-faults-1280px.png') });
    await bob.setViewportSize({ width: 375, height: 740 });
    await bob.screenshot({ path: join(ARTIFACTS, 'chat-page-375px.png'), fullPage: true });
    expect(await bob.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(errors).toEqual([]);
  }, 240_000);
});
