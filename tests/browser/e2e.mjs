// End-to-end test of the confab web UI in a real headless Chromium.
//
//   node tests/browser/e2e.mjs <base_url> <screenshot_dir> [chat|expiry|membership|messages|xss|tokens|webhooks|unread|push|attachments|encrypted|search]
//
// Run by tests/browser.rs against the real server binary.
// - `chat` (default): two browser contexts (two users) sign up, create and
//   join a room and chat both ways; the test checks what a person would:
//   authors and times, scrolling, history after reload, XSS as text, links,
//   reconnect with replay, room deletion, log out, login errors.
// - `expiry`: against a server started with a rooms TTL of a few seconds, an
//   open room that expires says so.
// - `membership`: three users; a direct message and a private room are seen
//   live by their members only; invite links, and removal from a room.
//   (scenario in e2e-membership.mjs)
// - `messages`: two users edit, delete, react to and reply to messages, each
//   seeing the other's change live and after a reconnect or reload; Markdown
//   renders, script in a body never runs. (scenario in e2e-messages.mjs)
// - `xss`: the server's whole XSS corpus (a JSON file named by E2E_XSS_CORPUS)
//   shown to a reader whose page runs without its CSP: no script runs, no
//   request leaves the page, links stay safe. (scenario in e2e-xss.mjs)
// - `tokens`: a personal access token is created on the settings page, used
//   with fetch from outside the browser, revoked in the UI and refused; a bot's
//   messages carry a "bot" badge. (scenario in e2e-tokens.mjs)
// - `webhooks`: a room's incoming and outgoing webhooks through the panel in
//   the chat header, called from and calling out to Node; signatures checked.
//   (scenario in e2e-webhooks.mjs)
// - `unread`: unread and mention badges in the sidebar (live, from
//   room_activity frames), the "New messages"
//   divider, the read marker, @-completion in the composer and the
//   notification menu. (scenario in e2e-unread.mjs)
// - `push`: browser notifications: the service worker shows pushes delivered
//   over the DevTools protocol and opens the room at the message; in-tab
//   notifications follow each room's level; the top bar's switch, with and
//   without a push service. (scenario in e2e-push.mjs)
// - `attachments`: files dropped, picked and pasted into the composer upload
//   with progress and can be cancelled; an image shows as a preview that
//   opens a viewer, any other file as a chip that downloads it (an HTML file
//   runs nothing); the ten-file limit and the size limit are explained.
//   (scenario in e2e-attachments.mjs)
// - `encrypted`: end-to-end encrypted rooms: passphrases, key sharing between
//   browsers, ciphertext only on the server, a wrong passphrase, removal and
//   a member added later, safety codes and a key reset. Prints the random
//   marker it typed as `E2E_MARKER=...` for tests/browser.rs to look for on
//   the server's disk and in its log. (scenario in e2e-encrypted.mjs)
// - `search`: full-text search from the top bar: shortcuts, highlighted hits
//   newest first, phrases, filter chips, paging, the server's errors, a hit
//   opening its room at the message, and a private room's messages found by
//   its members only. (scenario in e2e-search.mjs)
// Screenshots of every screen go to <screenshot_dir>.
// Exits 0 on success, 1 on a failed check (with the reason on stderr).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { attachmentsScenario } from './e2e-attachments.mjs';
import { encryptedScenario } from './e2e-encrypted.mjs';
import { membershipScenario } from './e2e-membership.mjs';
import { messagesScenario } from './e2e-messages.mjs';
import { pushScenario } from './e2e-push.mjs';
import { searchScenario } from './e2e-search.mjs';
import { tokensScenario } from './e2e-tokens.mjs';
import { unreadScenario } from './e2e-unread.mjs';
import { webhooksScenario } from './e2e-webhooks.mjs';
import { xssScenario } from './e2e-xss.mjs';

const [baseUrl, shotDir, scenarioName = 'chat'] = process.argv.slice(2);
const SCENARIOS = {
  chat: chatScenario,
  expiry: expiryScenario,
  membership: (browser) => membershipScenario(browser, harness),
  messages: (browser) => messagesScenario(browser, harness),
  xss: (browser) => xssScenario(browser, harness),
  tokens: (browser) => tokensScenario(browser, harness),
  webhooks: (browser) => webhooksScenario(browser, harness),
  unread: (browser) => unreadScenario(browser, harness),
  push: (browser) => pushScenario(browser, harness),
  attachments: (browser) => attachmentsScenario(browser, harness),
  encrypted: (browser) => encryptedScenario(browser, harness),
  search: (browser) => searchScenario(browser, harness),
};
if (!baseUrl || !shotDir || !SCENARIOS[scenarioName]) {
  console.error(
    'usage: node e2e.mjs <base_url> <screenshot_dir> [chat|expiry|membership|messages|xss|tokens|webhooks|unread|push|attachments|encrypted|search]',
  );
  process.exit(2);
}
mkdirSync(shotDir, { recursive: true });

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Waits for what the page or its service worker shows. Under a fully loaded CI machine a
// notification shown through the worker took over 10 s to be listed (the push scenario failed
// there with 10 s and passed with 30 s, with two CPU hogs beside it); a passing step takes
// under 2 s either way.
const STEP_TIMEOUT_MS = 30_000;
const WHOLE_RUN_TIMEOUT_MS = 240_000;

setTimeout(() => {
  console.error(`e2e: FAILED: the whole run took longer than ${WHOLE_RUN_TIMEOUT_MS / 1000}s`);
  process.exit(1);
}, WHOLE_RUN_TIMEOUT_MS).unref();

const run = Date.now().toString(36).slice(-5);
const ALICE = `alice_${run}`;
const BOB = `bob_${run}`;
const PASSWORD = 'correct horse battery staple';
const ROOM = `general-${run}`;
const XSS = '<img src=x onerror=alert(1)>';
const URL_IN_TEXT = 'https://example.com/docs?page=1';

/** Things that must never happen on any page: JS dialogs, uncaught errors, CSP violations. */
const problems = [];
let stepCount = 0;

async function step(name, fn) {
  const started = Date.now();
  stepCount += 1;
  try {
    await fn();
  } catch (error) {
    error.message = `step "${name}": ${error.message}`;
    throw error;
  }
  console.log(`  ok ${String(stepCount).padStart(2)} ${name} (${Date.now() - started} ms)`);
}

/** Polls `fn` until it returns a truthy value. */
async function until(description, fn, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(page, name) {
  // Let transitions settle so the picture shows the resting state.
  await page.waitForTimeout(350);
  await page.screenshot({ path: path.join(shotDir, `${name}.png`) });
  console.log(`     screenshot ${name}.png`);
}

function watch(page, who) {
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('dialog', async (dialog) => {
    problems.push(`${who}: a JavaScript ${dialog.type()} fired: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.push(`${who}: uncaught error: ${error.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content.Security.Policy|Refused to/i.test(text)) problems.push(`${who}: CSP violation: ${text}`);
  });
}

/** A browser context with one page, watched for problems; `options` add to the context's (e.g. hasTouch). */
async function newUser(browser, who, viewport = { width: 1280, height: 800 }, options = {}) {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'Europe/Berlin', ...options });
  const page = await context.newPage();
  watch(page, who);
  return { context, page };
}

const messageBodies = (page, text) => page.locator('.message-list .msg-body').filter({ hasText: text });
const scroller = (page) => page.locator('.messages');

/** Waits until the message is shown, then checks its author and time. */
async function expectMessage(page, author, text) {
  const body = messageBodies(page, text);
  await body.first().waitFor();
  assert.equal(await body.count(), 1, `"${text}" is shown exactly once`);
  const group = page
    .locator('.message-list .msg-group')
    .filter({ has: page.locator('.msg-body').filter({ hasText: text }) });
  assert.equal((await group.locator('.msg-author').textContent()).trim(), author, `author of "${text}"`);
  const time = group.locator('time.msg-time');
  const shown = await time.textContent();
  assert.match(shown, /^(Today|Yesterday) at \d{1,2}:\d{2}/, `time of "${text}"`);
  const iso = await time.getAttribute('datetime');
  assert.ok(!Number.isNaN(Date.parse(iso)), `datetime attribute "${iso}" is a date`);
}

async function send(page, text, room = ROOM) {
  const box = page.getByRole('textbox', { name: `Message #${room}` });
  await box.fill(text);
  await box.press('Enter');
  await until('the composer to clear', async () => (await box.inputValue()) === '');
}

/** Buttons, links and text fields without an accessible name (from Chromium's accessibility tree). */
async function assertControlsNamed(page, screen) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send('Accessibility.getFullAXTree');
  await cdp.detach();
  const controls = new Set(['button', 'link', 'textbox', 'searchbox', 'combobox', 'checkbox']);
  const unnamed = nodes
    .filter((n) => !n.ignored && controls.has(n.role?.value) && !String(n.name?.value ?? '').trim())
    .map((n) => n.role.value);
  assert.deepEqual(unnamed, [], `every control on the ${screen} screen has an accessible name`);
}

async function bottomGap(page) {
  return scroller(page).evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
}

async function noDuplicateMessages(page) {
  const ids = await page.locator('.message-list .msg[data-id]').evaluateAll((els) => els.map((e) => e.dataset.id));
  assert.equal(new Set(ids).size, ids.length, 'no message id is rendered twice');
  const sorted = [...ids].sort();
  assert.deepEqual(ids, sorted, 'messages are rendered in id order');
}

/** POSTs messages through the REST API from inside the page (same cookie session). */
async function postViaApi(page, roomId, bodies) {
  await page.evaluate(
    async ({ roomId, bodies }) => {
      for (const body of bodies) {
        const res = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/messages`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ body }),
        });
        if (res.status !== 201) throw new Error(`POST message: ${res.status} ${await res.text()}`);
      }
    },
    { roomId, bodies },
  );
}

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    await SCENARIOS[scenarioName](browser);
  } finally {
    await browser.close();
  }
}

/** A room whose TTL runs out while it is open shows that it expired. */
async function expiryScenario(browser) {
  const c = await newUser(browser, 'carol');
  const room = `standup-${run}`;
  await step('carol signs up and opens a short-lived room', async () => {
    await c.page.goto(`${baseUrl}/#/signup`);
    await c.page.getByLabel('Username').fill(`carol_${run}`);
    await c.page.getByLabel('Password').fill(PASSWORD);
    await c.page.getByRole('button', { name: 'Sign up' }).click();
    await c.page.getByLabel('Join a room by name').fill(room);
    await c.page.getByRole('button', { name: 'Join', exact: true }).click();
    await c.page.getByRole('button', { name: `Create “${room}”` }).click();
    await c.page.getByRole('heading', { name: room, level: 1 }).waitFor();
    await c.page.locator('.chat-expiry.soon', { hasText: 'expires in less than a minute' }).waitFor();
    await send(c.page, 'This room will not last long.', room);
  });
  await step('when the room expires the chat says so and stops taking messages', async () => {
    await c.page.getByText('This room has expired.').waitFor({ timeout: 30_000 });
    const box = c.page.getByRole('textbox', { name: `Message #${room}` });
    assert.ok(await box.isDisabled(), 'composer disabled');
    await shot(c.page, '20-room-expired');
    await c.page.locator('.banner').getByRole('link', { name: 'Back to rooms' }).click();
    await c.page.getByRole('heading', { name: `Hi carol_${run}` }).waitFor();
    assert.equal(await c.page.locator('.room-card', { hasText: room }).count(), 0, 'expired room not listed');
  });
  await step('no dialogs, page errors or CSP violations happened', async () => {
    assert.deepEqual(problems, []);
  });
  await c.context.close();
}

async function chatScenario(browser) {
  const a = await newUser(browser, 'alice');
  const b = await newUser(browser, 'bob');
  let roomId;

  // B's WebSocket goes through a route we control, to cut the connection later.
  const wsControl = { blocked: false, routes: [] };
  await b.page.routeWebSocket(/\/api\/ws$/, (ws) => {
    if (wsControl.blocked) {
      ws.close({ code: 1011, reason: 'blocked by test' });
      return;
    }
    ws.connectToServer();
    wsControl.routes.push(ws);
  });

  await step('login screen shows for a signed-out visitor', async () => {
    await a.page.goto(baseUrl);
    await a.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await a.page.getByLabel('Username').waitFor();
    await a.page.getByLabel('Password').waitFor();
    await a.page.getByRole('button', { name: 'Log in' }).waitFor();
    await shot(a.page, '01-login');
    await assertControlsNamed(a.page, 'login');
  });

  await step('sign-up validates inline, then registers alice', async () => {
    await a.page.getByRole('link', { name: 'Create an account' }).click();
    await a.page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await a.page.getByLabel('Username').fill(ALICE);
    await a.page.getByLabel('Password').fill('short');
    await a.page.getByRole('button', { name: 'Sign up' }).click();
    await a.page.getByText('Use at least 8 characters.').first().waitFor();
    await a.page.getByLabel('Password').fill(PASSWORD);
    await a.page.getByRole('button', { name: 'Sign up' }).click();
    await a.page.getByRole('heading', { name: `Hi ${ALICE}` }).waitFor();
    assert.match(a.page.url(), /#\/rooms$/);
  });

  await step('a taken username is reported inline; bob registers', async () => {
    await b.page.goto(`${baseUrl}/#/signup`);
    await b.page.getByLabel('Username').fill(ALICE);
    await b.page.getByLabel('Password').fill(PASSWORD);
    await b.page.getByRole('button', { name: 'Sign up' }).click();
    await b.page.getByText('That username is already taken').waitFor();
    await shot(b.page, '02-signup-error');
    await b.page.getByLabel('Username').fill(BOB);
    await b.page.getByRole('button', { name: 'Sign up' }).click();
    await b.page.getByRole('heading', { name: `Hi ${BOB}` }).waitFor();
  });

  await step('alice creates a room from the "join a room by name" field', async () => {
    const field = a.page.getByLabel('Join a room by name');
    await field.fill(ROOM);
    await a.page.getByRole('button', { name: 'Join', exact: true }).click();
    await a.page.getByText(`There is no live room called`).waitFor();
    await a.page.getByRole('button', { name: `Create “${ROOM}”` }).click();
    await a.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    roomId = decodeURIComponent(/#\/room\/(.+)$/.exec(a.page.url())[1]);
    await a.page.getByText(`Welcome to #${ROOM}`).waitFor();
    await a.page.locator('.chat-expiry', { hasText: /expires in \d+ days?/ }).waitFor();
  });

  await step('the rooms list shows the room with creator, age and expiry', async () => {
    // Two more rooms so the list has something to sort.
    await a.page.evaluate(async (names) => {
      for (const name of names) {
        const res = await fetch('/api/rooms', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name }),
        });
        if (res.status !== 201) throw new Error(`create room: ${res.status}`);
      }
    }, [`design-review-${run}`, `random-${run}`]);
    await b.page.reload();
    const card = b.page.locator('.room-card', { hasText: ROOM });
    await card.waitFor();
    const text = await card.innerText();
    assert.match(text, new RegExp(`by ${ALICE}`), 'creator shown');
    assert.match(text, /created (just now|\d+ minutes? ago)/, 'age shown');
    assert.match(text, /expires in \d+ days?/, 'expiry shown');
    await shot(b.page, '03-rooms');
    await assertControlsNamed(b.page, 'rooms');
  });

  await step('bob joins the existing room by name (case-insensitive)', async () => {
    await b.page.getByLabel('Join a room by name').fill(ROOM.toUpperCase());
    await b.page.getByRole('button', { name: 'Join', exact: true }).click();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    assert.equal(decodeURIComponent(/#\/room\/(.+)$/.exec(b.page.url())[1]), roomId, 'joined the same room');
  });

  await step('both see each other online', async () => {
    await a.page.locator('.members-panel .member-name', { hasText: BOB }).waitFor();
    await b.page.locator('.members-panel .member-name', { hasText: ALICE }).waitFor();
    await a.page.locator('.connection[data-state="open"]').waitFor();
  });

  await step('messages cross live both ways with author and time', async () => {
    await send(a.page, 'Hello from alice 👋');
    await expectMessage(b.page, ALICE, 'Hello from alice 👋');
    await expectMessage(a.page, ALICE, 'Hello from alice 👋');
    await b.page.getByRole('textbox', { name: `Message #${ROOM}` }).pressSequentially('Hi al', { delay: 20 });
    await a.page.getByText(`${BOB} is typing…`).waitFor();
    await b.page.getByRole('textbox', { name: `Message #${ROOM}` }).fill('');
    await send(b.page, 'Hi alice, bob here');
    await expectMessage(a.page, BOB, 'Hi alice, bob here');
    await expectMessage(b.page, BOB, 'Hi alice, bob here');
  });

  await step('Shift+Enter makes a new line, Enter sends', async () => {
    const box = a.page.getByRole('textbox', { name: `Message #${ROOM}` });
    await box.fill('line one');
    await box.press('Shift+Enter');
    await box.pressSequentially('line two');
    assert.equal(await box.inputValue(), 'line one\nline two');
    await box.press('Enter');
    const body = messageBodies(b.page, 'line one');
    await body.waitFor();
    assert.equal(await body.innerText(), 'line one\nline two');
    await send(b.page, 'Did the deploy go out?');
    await send(a.page, 'Yes, release notes are at https://example.com/releases/42 if you want the details.');
    await messageBodies(b.page, 'release notes').waitFor();
    await shot(a.page, '04-chat');
    await assertControlsNamed(a.page, 'chat');
    await b.page.setViewportSize({ width: 390, height: 844 });
    await shot(b.page, '04-chat-mobile');
    await b.page.setViewportSize({ width: 1280, height: 800 });
  });

  await step('the view follows new messages to the bottom', async () => {
    const bulk = Array.from({ length: 60 }, (_, i) => `bulk message ${i + 1} of 60`);
    await postViaApi(a.page, roomId, bulk);
    await messageBodies(b.page, 'bulk message 60 of 60').waitFor();
    await messageBodies(a.page, 'bulk message 60 of 60').waitFor();
    for (const p of [a.page, b.page]) {
      await until('the newest message to be scrolled into view', async () => (await bottomGap(p)) < 5);
    }
    await noDuplicateMessages(b.page);
  });

  await step('scrolled up, a new message shows a marker instead of jumping', async () => {
    await scroller(b.page).evaluate((el) => {
      el.scrollTop = 0;
    });
    await b.page.waitForTimeout(200);
    await send(a.page, 'while you were reading');
    const jump = b.page.getByRole('button', { name: 'Jump to new messages' });
    await jump.waitFor();
    assert.ok((await bottomGap(b.page)) > 100, 'the reader was not yanked to the bottom');
    await shot(b.page, '05-new-messages-marker');
    await jump.click();
    await until('the jump to the bottom', async () => (await bottomGap(b.page)) < 5);
    await jump.waitFor({ state: 'hidden' });
  });

  await step('an XSS attempt shows as literal text', async () => {
    await send(a.page, XSS);
    const body = messageBodies(b.page, XSS);
    await body.waitFor();
    assert.equal(await body.textContent(), XSS);
    assert.equal(await b.page.locator('.message-list img').count(), 0, 'no <img> was injected');
    await b.page.waitForTimeout(300); // an onerror would have fired by now
  });

  await step('a URL becomes a safe link', async () => {
    await send(a.page, `The docs are at ${URL_IN_TEXT}.`);
    const link = b.page.locator('.message-list').getByRole('link', { name: URL_IN_TEXT });
    await link.waitFor();
    assert.equal(await link.getAttribute('href'), URL_IN_TEXT);
    assert.equal(await link.getAttribute('target'), '_blank');
    const rel = (await link.getAttribute('rel')).split(/\s+/);
    assert.ok(rel.includes('noopener') && rel.includes('noreferrer'), `rel is "${rel.join(' ')}"`);
  });

  await step('a reload keeps the history; scrolling up loads older pages', async () => {
    // Bob has seen everything (his read marker follows the newest message on screen), so the
    // reloaded room opens at the bottom, not at a "New messages" divider.
    await until('bob to have read the newest message', async () =>
      b.page.evaluate(async (id) => {
        const room = await (await fetch(`/api/rooms/${id}`)).json();
        return room.unread_count === 0;
      }, roomId),
    );
    await b.page.reload();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    await messageBodies(b.page, XSS).waitFor();
    await b.page.locator('.message-list').getByRole('link', { name: URL_IN_TEXT }).waitFor();
    await until('the reloaded view to sit at the bottom', async () => (await bottomGap(b.page)) < 5);
    // "Hello from alice" is older than the newest page: scroll up until it loads.
    await until(
      'older pages to load on scroll up',
      async () => {
        await scroller(b.page).evaluate((el) => {
          el.scrollTop = 0;
        });
        return (await messageBodies(b.page, 'Hello from alice').count()) === 1;
      },
      15_000,
    );
    await expectMessage(b.page, ALICE, 'Hello from alice 👋');
    await b.page.getByText(`Welcome to #${ROOM}`).waitFor();
    await noDuplicateMessages(b.page);
    await b.page.locator('.members-panel .member-name', { hasText: ALICE }).waitFor();
  });

  await step('after a dropped connection bob reconnects and replays without gaps or duplicates', async () => {
    await scroller(b.page).evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await b.page.locator('.connection[data-state="open"]').waitFor();
    wsControl.blocked = true;
    for (const ws of wsControl.routes.splice(0)) await ws.close({ code: 4008, reason: 'lagged' });
    await b.page.locator('.connection', { hasText: /Reconnecting/ }).waitFor();
    // Missed while away: sent by alice, and one bob writes while offline.
    await postViaApi(a.page, roomId, ['missed 1', 'missed 2', 'missed 3']);
    await send(b.page, 'written while offline');
    await b.page.getByText('Waiting for connection…').waitFor();
    await shot(b.page, '06-reconnecting');
    wsControl.blocked = false;
    await reconnect(b.page);
    for (const text of ['missed 1', 'missed 2', 'missed 3']) await expectMessage(b.page, ALICE, text);
    await expectMessage(a.page, BOB, 'written while offline');
    await expectMessage(b.page, BOB, 'written while offline');
    await b.page.locator('.msg.pending').waitFor({ state: 'detached' });
    await noDuplicateMessages(b.page);
    await noDuplicateMessages(a.page);
  });

  await step('phone-sized layout', async () => {
    await b.page.setViewportSize({ width: 390, height: 844 });
    await b.page.getByRole('link', { name: 'Back to rooms' }).waitFor();
    assert.equal(await b.page.locator('.sidebar').isVisible(), false, 'sidebar hidden on a phone');
    await until('the bottom after resizing', async () => (await bottomGap(b.page)) < 5);
    await shot(b.page, '07-chat-mobile');
    await b.page.getByRole('button', { name: /^Members \(\d+ online\)$/ }).click();
    await b.page.locator('.members-panel').waitFor();
    await shot(b.page, '08-members-mobile');
    await assertControlsNamed(b.page, 'phone chat');
    await b.page.getByRole('button', { name: 'Close members' }).click();
    await b.page.getByRole('link', { name: 'Back to rooms' }).click();
    await b.page.getByRole('heading', { name: `Hi ${BOB}` }).waitFor();
    await shot(b.page, '09-rooms-mobile');
    await b.page.getByRole('link', { name: new RegExp(ROOM) }).first().click();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
  });

  await step('dark mode follows the system setting', async () => {
    await a.page.emulateMedia({ colorScheme: 'dark' });
    const bg = await a.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, bl] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + bl < 120, `dark background, got ${bg}`);
    await shot(a.page, '10-chat-dark');
    await b.page.emulateMedia({ colorScheme: 'dark' });
    await shot(b.page, '11-chat-mobile-dark');
  });

  await step('deleting the room tells the other member clearly', async () => {
    await a.page.getByRole('button', { name: 'Delete room' }).click();
    await a.page.getByRole('dialog').getByRole('button', { name: 'Delete room' }).click();
    await a.page.getByRole('heading', { name: `Hi ${ALICE}` }).waitFor();
    await b.page.getByText('This room was deleted.').waitFor();
    assert.ok(await b.page.getByRole('textbox', { name: `Message #${ROOM}` }).isDisabled(), 'composer disabled');
    await shot(b.page, '12-room-deleted-mobile-dark');
    await shot(a.page, '13-rooms-dark');
  });

  await step('log out returns to the login screen and ends the session', async () => {
    await b.page.getByRole('button', { name: 'Log out' }).click();
    await b.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
    const status = await b.page.evaluate(async () => (await fetch('/api/auth/me')).status);
    assert.equal(status, 401, '/api/auth/me after log out');
    await shot(b.page, '14-login-mobile-dark');
  });

  await step('log in: a wrong password is reported inline, the right one gets in', async () => {
    await b.page.setViewportSize({ width: 1280, height: 800 });
    await b.page.emulateMedia({ colorScheme: 'light' });
    await b.page.getByLabel('Username').fill(BOB);
    await b.page.getByLabel('Password').fill('not the password');
    await b.page.getByRole('button', { name: 'Log in' }).click();
    await b.page.getByText('Wrong username or password.').waitFor();
    await shot(b.page, '15-login-error');
    await b.page.getByLabel('Password').fill(PASSWORD);
    await b.page.getByRole('button', { name: 'Log in' }).click();
    await b.page.getByRole('heading', { name: `Hi ${BOB}` }).waitFor();
    const status = await b.page.evaluate(async () => (await fetch('/api/auth/me')).status);
    assert.equal(status, 200);
  });

  // Last: it locks this client address out of logging in for the throttle window.
  await step('too many failed logins are reported inline', async () => {
    await b.page.getByRole('button', { name: 'Log out' }).click();
    await b.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
    const limited = b.page.getByText('Too many attempts.');
    for (let attempt = 1; attempt <= 20 && !(await limited.isVisible()); attempt += 1) {
      await b.page.getByLabel('Username').fill(BOB);
      await b.page.getByLabel('Password').fill(`wrong password ${attempt}`);
      await b.page.getByRole('button', { name: 'Log in' }).click();
      await b.page.getByRole('button', { name: 'Log in' }).and(b.page.locator(':enabled')).waitFor();
    }
    await limited.waitFor();
    assert.match(await limited.textContent(), /try again in \d+ minutes?/);
    await shot(b.page, '16-login-rate-limited');
  });

  await step('no dialogs, page errors or CSP violations happened', async () => {
    assert.deepEqual(problems, []);
  });

  await a.context.close();
  await b.context.close();
}

/** Signs `username` up through the form and waits for the landing page. */
async function signUp(page, username) {
  await page.goto(`${baseUrl}/#/signup`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: `Hi ${username}` }).waitFor();
}

/**
 * Waits until the page's socket is open again, pressing "Retry now" whenever it is offered so
 * the test does not sit out the backoff. The click has a short timeout: the socket's own retry
 * may hide the button between the check and the click, and a click waiting for a hidden button
 * would outlast the whole wait.
 */
async function reconnect(page) {
  const retry = page.getByRole('button', { name: 'Retry now' });
  await until('the reconnect', async () => {
    if ((await page.locator('.connection').getAttribute('data-state')) === 'open') return true;
    if (await retry.isVisible()) await retry.click({ timeout: 500 }).catch(() => {});
    return false;
  }, 20_000);
}

/** A REST call from inside the page (its cookie session); returns the JSON answer. */
function rest(page, method, url, body) {
  return page.evaluate(
    async ({ method, url, body }) => {
      const init = { method, headers: { 'Content-Type': 'application/json' } };
      if (body !== undefined) init.body = JSON.stringify(body);
      const res = await fetch(url, init);
      if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
      return res.status === 204 ? null : res.json();
    },
    { method, url, body },
  );
}

/** What the scenarios in other files use from this one. */
const harness = {
  baseUrl,
  run,
  PASSWORD,
  step,
  until,
  shot,
  newUser,
  signUp,
  rest,
  reconnect,
  expectMessage,
  assertControlsNamed,
  noDuplicateMessages,
  problems,
};

try {
  await main();
  console.log(`e2e: all ${stepCount} steps ok; screenshots in ${shotDir}`);
  process.exit(0);
} catch (error) {
  console.error(`e2e: FAILED: ${error.stack ?? error}`);
  if (problems.length) console.error(`also seen:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
