import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { startFakeAuth, startFront, testConfig, type FakeAuth, type Front } from './chat-harness';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
jest.setTimeout(90000);

/**
 * The page as a logged-in user: it registers, logs in and out through `/api/auth/*` at its own
 * origin (here a front like the gateway: auth routes to a fake auth-session, the rest to one chat
 * replica each), and the socket connects as that user. Guests are off, as in production.
 */
describe('the chat page with accounts, on two replicas', () => {
  let redis: RedisServer;
  let auth: FakeAuth;
  let replicas: Replicas<ServiceInstance>;
  let fronts: Front[] = [];
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is absent: run tools/prerequisites.sh --install (Debian: chromium)`,
      );
    }
    [redis, auth] = await Promise.all([startRedis(), startFakeAuth()]);
    const prefix = uniquePrefix('chat');
    replicas = await startReplicas(2, () =>
      buildApp(
        testConfig({
          redis: { url: redis.url },
          keyPrefix: prefix,
          chat: {
            allowGuests: false,
            authUrl: auth.url,
            rateLimitMax: 1000,
          },
        }),
      ),
    );
    fronts = await Promise.all([0, 1].map((i) => startFront(replicas.url(i), auth.url)));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all(fronts.map((front) => front.close()));
    await replicas?.close();
    await auth?.close();
    await redis?.stop();
  });

  /** A page in its own browser context (its own cookie jar), on front `i`. */
  async function openPage(i: number, errors: string[]): Promise<Page> {
    const context = await (browser as Browser).newContext({
      viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${fronts[i].url}/`);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    return page;
  }

  async function register(page: Page, username: string, password: string): Promise<void> {
    await page.getByLabel('Username', { exact: true }).fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText(`Signed in as ${username}`).waitFor();
  }

  async function joinRoom(page: Page, room: string): Promise<void> {
    await page.getByLabel('Room', { exact: true }).fill(room);
    await page.getByRole('button', { name: 'Join' }).click();
    await page.waitForSelector('#text:not([disabled])');
  }

  it('registers, logs in and out through /api/auth; the socket connects as that user', async () => {
    const errors: string[] = [];
    const [ada, bob] = [await openPage(0, errors), await openPage(1, errors)];
    // Signed out: the account form, with labelled fields; no logout button.
    expect(await ada.getByRole('button', { name: 'Log out' }).isVisible()).toBe(false);
    await register(ada, 'ada', 'correct horse');

    // A wrong password is shown, not swallowed; the right one logs in.
    await bob.getByLabel('Username', { exact: true }).fill('bob');
    await bob.getByLabel('Password', { exact: true }).fill('whatever-1');
    await bob.getByRole('button', { name: 'Log in' }).click();
    await bob.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor();
    await register(bob, 'bob', 'battery staple');

    await joinRoom(ada, 'accounts');
    await joinRoom(bob, 'accounts');
    // As the users themselves, never as guests.
    await bob.locator('#online li').nth(1).waitFor();
    expect(await bob.locator('#online li').allTextContents()).toEqual(['ada', 'bob']);
    expect(await ada.locator('#whoami').textContent()).toBe('Signed in as ada');

    await ada.getByLabel('Message', { exact: true }).fill('hello bob');
    await ada.getByRole('button', { name: 'Send' }).click();
    await bob.waitForSelector('#messages li:has-text("hello bob") .who:text-is("ada")');
    // The sender sees it delivered to and read by the other member (bob is on the other replica).
    await ada.waitForSelector('#messages li.mine .receipt:has-text("delivered to 1 · read by 1")');

    // Log out: the connection closes, the account form is back, and a reload stays signed out.
    await ada.getByRole('button', { name: 'Log out' }).click();
    await ada.getByRole('button', { name: 'Log in' }).waitFor();
    expect(await ada.locator('#whoami').textContent()).toBe('');
    expect(await ada.locator('#status').textContent()).toBe('not connected');
    await ada.reload();
    await ada.getByRole('button', { name: 'Log in' }).waitFor();
    expect(await ada.getByRole('button', { name: 'Log out' }).isVisible()).toBe(false);
    // Signed out with guests off, a join is refused by the server, and says why.
    await ada.getByLabel('Your name (guest)').fill('ada');
    await ada.getByRole('button', { name: 'Join' }).click();
    await ada.locator('#error').filter({ hasText: 'log in first' }).waitFor();

    // Logging in again (no register) connects as ada once more.
    await ada.getByLabel('Username', { exact: true }).fill('ada');
    await ada.getByLabel('Password', { exact: true }).fill('correct horse');
    await ada.getByRole('button', { name: 'Log in' }).click();
    await ada.getByText('Signed in as ada').waitFor();
    await joinRoom(ada, 'accounts');
    await ada.waitForSelector('#messages li.mine:has-text("hello bob")');
    expect(errors).toEqual([]);
    await ada.context().close();
    await bob.context().close();
  });

  it('lists rooms with unread counts and shows delivered and read receipts, across replicas', async () => {
    const errors: string[] = [];
    const [cy, di] = [await openPage(0, errors), await openPage(1, errors)];
    await register(cy, 'cyra', 'password-cyra');
    await register(di, 'dino', 'password-dino');
    await joinRoom(cy, 'alpha');
    await joinRoom(di, 'alpha');
    // Cy moves on to another room; Di, on the other replica, writes in alpha meanwhile.
    await joinRoom(cy, 'beta');
    for (const text of ['one', 'two', 'three']) {
      await di.getByLabel('Message', { exact: true }).fill(text);
      await di.getByRole('button', { name: 'Send' }).click();
    }
    await di.waitForFunction(
      () => document.querySelectorAll('#messages li.mine[data-offset]').length === 3,
    );
    const alpha = cy.getByRole('button', { name: /^#alpha/ });
    await cy.getByRole('button', { name: '#alpha, 3 unread' }).waitFor({ timeout: 10000 });
    expect(await cy.getByRole('button', { name: /^#beta/ }).getAttribute('aria-current')).toBe(
      'true',
    );
    // Not delivered yet: cy's page is not in alpha.
    expect(await di.locator('#messages li.mine .receipt').allTextContents()).toEqual([
      '✓ sent',
      '✓ sent',
      '✓ sent',
    ]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await cy.screenshot({ path: join(ARTIFACTS, 'chat-rooms-1280px.png') });
    await alpha.click();
    await cy.waitForSelector('#messages li:has-text("three")');
    expect(await cy.locator('#messages li .text').allTextContents()).toEqual([
      'one',
      'two',
      'three',
    ]);
    await di.waitForFunction(
      () =>
        document.querySelectorAll('#messages li.mine .receipt').length === 3 &&
        Array.from(document.querySelectorAll('#messages li.mine .receipt')).every(
          (r) => r.textContent === '✓ delivered to 1 · read by 1',
        ),
    );
    // Read on every replica: the count of alpha drops to 0 for cy, the list shows no badge.
    await cy.getByRole('button', { name: '#alpha, open' }).waitFor();
    await cy.getByRole('button', { name: '#beta' }).waitFor();
    await cy.setViewportSize({ width: 375, height: 740 });
    await cy.screenshot({ path: join(ARTIFACTS, 'chat-rooms-375px.png'), fullPage: true });
    expect(await cy.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);

    // The list is the server's: a new browser of cyra on the other replica, once in a room,
    // lists every room she joined there and here, the most recently joined first.
    const elsewhere = await openPage(1, errors);
    await elsewhere.getByLabel('Username', { exact: true }).fill('cyra');
    await elsewhere.getByLabel('Password', { exact: true }).fill('password-cyra');
    await elsewhere.getByRole('button', { name: 'Log in' }).click();
    await elsewhere.getByText('Signed in as cyra').waitFor();
    await joinRoom(elsewhere, 'gamma');
    await elsewhere.getByRole('button', { name: '#beta' }).waitFor({ timeout: 10000 });
    expect(await elsewhere.locator('#rooms button > span:first-child').allTextContents()).toEqual([
      '#gamma',
      '#alpha',
      '#beta',
    ]);
    expect(errors).toEqual([]);
    await elsewhere.context().close();
    await cy.context().close();
    await di.context().close();
  });
});

// What the functions run inside the page use; this test compiles without the DOM library.
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  documentElement: { scrollWidth: number };
};
