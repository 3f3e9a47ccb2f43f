// The `push` scenario of e2e.mjs: browser notifications and Web Push, seen by
// ann (who is notified), bob (who writes) and cat (whose browser has a push
// subscription).
//
// - ann turns notifications on from the top bar: the service worker /sw.js
//   registers for the whole site, and as headless Chromium reaches no push
//   service the panel and a toast say that push is unavailable, with no page
//   error; after a reload the panel says the same.
// - a push delivered to the worker over the DevTools protocol shows "bob
//   mentioned you in #standup" with the message's text, tagged per room; a
//   push without a readable payload shows a generic "New message".
// - the worker's click handling makes ann's tab open the room at the message:
//   scrolled to it and highlighted, with newer messages below; a second
//   message of the same room is shown without reopening the room.
// - while ann's tab is hidden, bob's `@ann` gives exactly one notification, a
//   message without a mention in a "mentions" room gives none, a mention in a
//   room set to "Nothing" none either; at "All messages" any message does;
//   with the tab visible, or notifications off, nothing is shown.
// - cat's browser has a simulated push subscription whose endpoint is a push
//   service stand-in in Node: turning notifications on registers it with the
//   server, a reload keeps it, a new server key replaces it; bob's @cat,
//   unread past `push.delay`, reaches the stand-in encrypted (RFC 8291),
//   signed with the server's VAPID key, and once decrypted and delivered to
//   cat's worker shows as "bob mentioned you in #standup"; turning
//   notifications off removes the subscription on the server.
// - against a server with push turned off (503 `push_disabled`, routed in the
//   page), bob's notifications still turn on and the panel says why push is
//   unavailable.

import assert from 'node:assert/strict';
import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

/** Records every notification the page shows, through the worker or `new Notification`, then shows it. */
function recordNotifications() {
  window.__notified = [];
  const record = (kind, title, options = {}) =>
    window.__notified.push({ kind, title, body: options.body ?? '', tag: options.tag ?? '', message: options.data?.message ?? null });
  const show = ServiceWorkerRegistration.prototype.showNotification;
  ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
    record('worker', title, options);
    return show.call(this, title, options);
  };
  const Native = window.Notification;
  window.Notification = class extends Native {
    constructor(title, options) {
      super(title, options);
      record('page', title, options);
    }
  };
}

/**
 * Stands in for the push service (which headless Chromium cannot reach): a
 * subscription kept in localStorage, so it survives reloads like a real one,
 * with real P-256 and auth keys so the server accepts it.
 */
function fakePushService({ p256dh, auth, endpointBase }) {
  const STORE = 'e2e.fake-push';
  const calls = [];
  window.__push = { calls };
  const toBase64Url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const fromBase64Url = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const subscription = (saved) => ({
    endpoint: saved.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: fromBase64Url(saved.key).buffer },
    toJSON() {
      return { endpoint: saved.endpoint, expirationTime: null, keys: { p256dh, auth } };
    },
    async unsubscribe() {
      calls.push(['unsubscribe', saved.endpoint]);
      if (JSON.parse(localStorage.getItem(STORE) ?? 'null')?.endpoint === saved.endpoint) localStorage.removeItem(STORE);
      return true;
    },
  });
  PushManager.prototype.getSubscription = async function () {
    const saved = JSON.parse(localStorage.getItem(STORE) ?? 'null');
    return saved ? subscription(saved) : null;
  };
  PushManager.prototype.subscribe = async function (options) {
    const saved = { endpoint: `${endpointBase}/${crypto.randomUUID()}`, key: toBase64Url(new Uint8Array(options.applicationServerKey)) };
    calls.push(['subscribe', saved.endpoint]);
    localStorage.setItem(STORE, JSON.stringify(saved));
    return subscription(saved);
  };
}

/**
 * A push service stand-in on 127.0.0.1: answers every push 201 and keeps
 * `{ path, headers, body }` of each. `close()` stops it.
 */
async function startPushService() {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(201).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}/push`,
    received,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Decrypts an `aes128gcm` push body (RFC 8188 framing, RFC 8291 keys) with the
 * browser's key pair and auth secret: what the browser does before the worker
 * sees `event.data`. One record, as a push is at most 4 KiB.
 */
function decryptPush(body, ecdh, authSecret) {
  const salt = body.subarray(0, 16);
  const idLength = body[20];
  const serverPublic = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  const hkdf = (ikm, salt, info, length) => Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
  const shared = ecdh.computeSecret(serverPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), serverPublic]);
  const ikm = hkdf(shared, authSecret, keyInfo, 32);
  const key = hkdf(ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
  const nonce = hkdf(ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12);
  const decipher = createDecipheriv('aes-128-gcm', key, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 2, then zero padding.
  const end = padded.lastIndexOf(2);
  return padded.subarray(0, end).toString('utf8');
}

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function pushScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const ANN = `ann_${run}`;
  const BOB = `bob_${run}`;
  const CAT = `cat_${run}`;
  const STANDUP = `standup-${run}`;
  const QUIET = `quiet-${run}`;

  const a = await t.newUser(browser, 'ann', undefined, { permissions: ['notifications'] });
  const b = await t.newUser(browser, 'bob');
  const c = await t.newUser(browser, 'cat', undefined, { permissions: ['notifications'] });
  await a.context.addInitScript(recordNotifications);
  // cat's browser keys, as a real browser would make them for its subscription.
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const authSecret = randomBytes(16);
  const pushService = await startPushService();
  await c.context.addInitScript(fakePushService, {
    p256dh: ecdh.getPublicKey().toString('base64url'),
    auth: authSecret.toString('base64url'),
    endpointBase: pushService.base,
  });
  let standupId;
  let quietId;

  const { signUp } = t;
  const { rest } = t;
  const post = (roomId, text) => rest(b.page, 'POST', `/api/rooms/${encodeURIComponent(roomId)}/messages`, { body: text });
  const bell = (page) => page.locator('.topbar .notif-toggle');
  const panel = (page) => page.getByRole('group', { name: 'Browser notifications' });
  const notifySwitch = (page) => panel(page).getByRole('switch', { name: 'Notify me about new messages' });
  const panelStatus = (page) => panel(page).getByRole('status');
  const openPanel = async (page) => {
    if ((await bell(page).getAttribute('aria-expanded')) !== 'true') await bell(page).click();
    await panel(page).waitFor();
  };
  const closePanel = async (page) => {
    await page.keyboard.press('Escape');
    await panel(page).waitFor({ state: 'hidden' });
  };
  const setHidden = (page, hidden) =>
    page.evaluate((hidden) => {
      Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
  const notified = (page) => page.evaluate(() => window.__notified);
  const shownNotifications = (page) =>
    page.evaluate(async () =>
      (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        tag: n.tag,
        message: n.data?.message ?? null,
      })),
    );
  const closeNotifications = (page) =>
    page.evaluate(async () => {
      for (const n of await (await navigator.serviceWorker.ready).getNotifications()) n.close();
    });
  /** Waits until the server's frames for earlier messages have surely arrived, then lists what was notified. */
  const settledNotified = async (page) => {
    await page.waitForTimeout(1200);
    return notified(page);
  };
  const rowOf = (page, id) => page.locator(`.message-list .msg[data-id="${id}"]`);
  const onScreen = (locator) =>
    locator.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const s = el.closest('.messages').getBoundingClientRect();
      return r.top >= s.top - 1 && r.bottom <= s.bottom + 1;
    });

  await step('ann, bob and cat sign up; ann’s two rooms, one of them muted', async () => {
    await signUp(a.page, ANN);
    await signUp(b.page, BOB);
    await signUp(c.page, CAT);
    standupId = (await rest(a.page, 'POST', '/api/rooms', { name: STANDUP })).id;
    quietId = (await rest(a.page, 'POST', '/api/rooms', { name: QUIET })).id;
    for (const id of [standupId, quietId]) await rest(b.page, 'POST', `/api/rooms/${encodeURIComponent(id)}/join`);
    await rest(a.page, 'PUT', `/api/rooms/${encodeURIComponent(quietId)}/notifications`, { level: 'none' });
    await a.page.reload();
    await a.page.getByRole('heading', { name: `Hi ${ANN}` }).waitFor();
    const sw = await a.page.evaluate(async () => {
      const res = await fetch('/sw.js');
      return { status: res.status, type: res.headers.get('content-type') };
    });
    assert.equal(sw.status, 200, '/sw.js is served');
    assert.match(sw.type, /javascript/, '/sw.js has a JavaScript content type');
  });

  await step('ann turns notifications on: the worker registers; push is unavailable, said without errors', async () => {
    assert.equal(await bell(a.page).getAttribute('aria-label'), 'Browser notifications: off');
    await openPanel(a.page);
    assert.equal(await notifySwitch(a.page).getAttribute('aria-checked'), 'false');
    assert.match(await panelStatus(a.page).innerText(), /^Off/);
    await notifySwitch(a.page).click();
    await until('the switch to be on', async () => (await notifySwitch(a.page).getAttribute('aria-checked')) === 'true');
    await until('the panel to say push is unavailable', async () =>
      /^On while confab is open in a tab\. Push is unavailable: /.test(await panelStatus(a.page).innerText()),
    );
    const toast = a.page.locator('.toast', { hasText: 'Push is unavailable' });
    await toast.waitFor();
    assert.match(await toast.innerText(), /^Notifications are on while confab is open in a tab\./);
    assert.equal(await bell(a.page).getAttribute('aria-label'), 'Browser notifications: on while confab is open');
    const worker = await a.page.evaluate(async () => {
      const registration = await navigator.serviceWorker.getRegistration('/');
      return { scope: registration?.scope, script: registration?.active?.scriptURL };
    });
    assert.equal(worker.scope, `${baseUrl}/`, 'the worker covers the whole site');
    assert.equal(worker.script, `${baseUrl}/sw.js`);
    // The server offers push, so what failed is the browser's side: no push service.
    const key = await rest(a.page, 'GET', '/api/push/key');
    assert.equal(Buffer.from(key.public_key, 'base64url').length, 65, 'a 65-byte P-256 point');
    assert.match(await panelStatus(a.page).innerText(), /no push service can be reached from this browser\.$/);
    assert.deepEqual((await rest(a.page, 'GET', '/api/push/subscriptions')).subscriptions, []);
    await shot(a.page, '80-notifications-push-unavailable');
    assert.deepEqual(t.problems, [], 'no page errors while push failed');
  });

  await step('after a reload the panel still says on, push unavailable', async () => {
    await a.page.reload();
    await a.page.getByRole('heading', { name: `Hi ${ANN}` }).waitFor();
    await until('the bell to say on', async () =>
      (await bell(a.page).getAttribute('aria-label')) === 'Browser notifications: on while confab is open',
    );
    await openPanel(a.page);
    assert.equal(await notifySwitch(a.page).getAttribute('aria-checked'), 'true');
    assert.match(await panelStatus(a.page).innerText(), /Push is unavailable: /);
    await closePanel(a.page);
    assert.equal(await a.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Browser notifications: on while confab is open', 'Escape returns focus to the bell');
  });

  /**
   * Delivers pushes to the page's service worker, as the browser does with what
   * its push service brings: the DevTools protocol addresses a registration by id.
   */
  const pushChannel = async (page) => {
    const cdp = await page.context().newCDPSession(page);
    const registrations = new Map();
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: updated }) => {
      for (const r of updated) registrations.set(r.scopeURL, r);
    });
    await cdp.send('ServiceWorker.enable');
    return {
      async deliver(data) {
        const registration = await until('the worker registration', async () => {
          const r = registrations.get(`${baseUrl}/`);
          return r && !r.isDeleted && r;
        });
        await cdp.send('ServiceWorker.deliverPushMessage', { origin: baseUrl, registrationId: registration.registrationId, data });
      },
      detach: () => cdp.detach(),
    };
  };
  const annsPushes = await pushChannel(a.page);
  const deliverPush = (data) => annsPushes.deliver(data);
  /** A push payload as the server sends it, about a message bob sent in #standup. */
  const standupPush = (message, body, mention) =>
    JSON.stringify({
      type: 'message',
      room: standupId,
      room_name: STANDUP,
      room_kind: 'public',
      sender: BOB,
      body,
      message,
      sent_at: new Date().toISOString(),
      mention,
    });
  let pushed;

  await step('a push makes the worker show “bob mentioned you in #standup”; an unreadable one a generic notification', async () => {
    pushed = (await post(standupId, `@${ANN} the build is green again, can you deploy?`)).id;
    await closeNotifications(a.page);
    await deliverPush(standupPush(pushed, `@${ANN} the build is green again, can you deploy?`, true));
    const shown = await until('the notification', async () =>
      (await shownNotifications(a.page)).find((n) => n.tag === `room:${standupId}`),
    );
    assert.deepEqual(shown, {
      title: `${BOB} mentioned you in #${STANDUP}`,
      body: `@${ANN} the build is green again, can you deploy?`,
      tag: `room:${standupId}`,
      message: pushed,
    });

    await deliverPush(JSON.stringify({ type: 'message', room: 'dm-room', room_name: '', room_kind: 'direct', sender: BOB, body: 'lunch?', message: 'm1', sent_at: new Date().toISOString(), mention: false }));
    const direct = await until('the direct message notification', async () =>
      (await shownNotifications(a.page)).find((n) => n.tag === 'room:dm-room'),
    );
    assert.equal(direct.title, BOB, 'a direct message is titled with its sender only');

    await deliverPush('this is not JSON');
    const generic = await until('the generic notification', async () =>
      (await shownNotifications(a.page)).find((n) => n.tag === 'confab'),
    );
    assert.equal(generic.title, 'New message');
    assert.deepEqual(t.problems, []);
    await closeNotifications(a.page);
  });

  await step('the worker’s click handling opens the room at the message, highlighted', async () => {
    // Newer messages below it, so the view has to scroll up to show it; all
    // read, so without the jump the room would open at the newest.
    let newest;
    for (let i = 1; i <= 40; i += 1) newest = (await post(standupId, `later message ${i} of 40`)).id;
    await rest(a.page, 'PUT', `/api/rooms/${encodeURIComponent(standupId)}/read`, { message: newest });
    const worker = a.context.serviceWorkers()[0] ?? (await a.context.waitForEvent('serviceworker'));
    // What `notificationclick` does once it has closed the notification.
    await worker.evaluate((data) => openAt(data), { room: standupId, message: pushed });
    await a.page.getByRole('heading', { name: STANDUP, level: 1 }).waitFor();
    assert.equal(new URL(a.page.url()).hash, `#/room/${encodeURIComponent(standupId)}/message/${encodeURIComponent(pushed)}`);
    const row = rowOf(a.page, pushed);
    await row.waitFor();
    await until('the message to be on screen, highlighted', async () =>
      (await onScreen(row)) && /\bmsg-flash\b/.test(await row.getAttribute('class')),
    );
    await a.page.locator('.message-list .msg-body', { hasText: 'later message 40 of 40' }).waitFor({ state: 'attached' });
    assert.equal(await onScreen(a.page.locator('.message-list .msg', { hasText: 'later message 40 of 40' })), false, 'the newest is out of view');
    await shot(a.page, '81-room-opened-at-message');

    // Another message of the open room: the view stays, the list scrolls.
    await a.page.locator('section.chat').evaluate((el) => {
      el.dataset.e2eMark = 'same view';
    });
    const other = await a.page.locator('.message-list .msg', { hasText: 'later message 20 of 40' }).getAttribute('data-id');
    await worker.evaluate((data) => openAt(data), { room: standupId, message: other });
    await until('the other message to be on screen, highlighted', async () =>
      (await onScreen(rowOf(a.page, other))) && /\bmsg-flash\b/.test(await rowOf(a.page, other).getAttribute('class')),
    );
    assert.equal(await a.page.locator('section.chat').getAttribute('data-e2e-mark'), 'same view', 'the room was not reopened');
  });

  let mention;
  await step('while ann’s tab is hidden, bob’s @ann gives exactly one notification', async () => {
    await a.page.getByRole('link', { name: 'confab home' }).click();
    await a.page.getByRole('heading', { name: `Hi ${ANN}` }).waitFor();
    await setHidden(a.page, true);
    mention = (await post(standupId, `@${ANN} standup moves to 10:30`)).id;
    const entry = await until('the notification', async () => (await notified(a.page)).find((n) => n.message === mention));
    assert.deepEqual(entry, {
      kind: 'worker',
      title: `${BOB} mentioned you in #${STANDUP}`,
      body: `@${ANN} standup moves to 10:30`,
      tag: `room:${standupId}`,
      message: mention,
    });
    const shown = await until('it to be shown', async () => (await shownNotifications(a.page)).find((n) => n.message === mention));
    assert.equal(shown.title, entry.title);

    // The server's push about it (or an older message) comes later: the room's
    // notification stays about the newest message, one of it.
    await deliverPush(standupPush(mention, `@${ANN} standup moves to 10:30`, true));
    await deliverPush(standupPush(pushed, 'an older message', false));
    await a.page.waitForTimeout(500);
    const room = (await shownNotifications(a.page)).filter((n) => n.tag === `room:${standupId}`);
    assert.deepEqual(room, [shown], 'the newest message’s notification, once');
    await closeNotifications(a.page);
  });

  await step('no notification for a message without a mention, nor for a muted room', async () => {
    const plain = (await post(standupId, 'coffee is ready')).id;
    const muted = (await post(quietId, `@${ANN} in the muted room`)).id;
    const list = await settledNotified(a.page);
    assert.equal(list.filter((n) => n.message === mention).length, 1, 'one message, one notification');
    assert.equal(list.filter((n) => n.message === plain).length, 0, '"mentions" room: no mention, no notification');
    assert.equal(list.filter((n) => n.message === muted).length, 0, '"Nothing" room: no notification');
    assert.equal(list.length, 1);
  });

  await step('at “All messages” any message notifies; a visible tab is not notified', async () => {
    await setHidden(a.page, false);
    await a.page.goto(`${baseUrl}/#/room/${encodeURIComponent(standupId)}`);
    await a.page.getByRole('heading', { name: STANDUP, level: 1 }).waitFor();
    await a.page.getByRole('button', { name: 'Notifications: Mentions' }).click();
    await a.page.getByRole('menu', { name: 'Notifications' }).getByRole('menuitemradio', { name: /^All messages/ }).click();
    await a.page.getByRole('button', { name: 'Notifications: All messages' }).waitFor();

    const seen = (await post(standupId, `@${ANN} you are looking at this one`)).id;
    await rowOf(a.page, seen).waitFor();
    await setHidden(a.page, true);
    const any = (await post(standupId, 'retro notes are in the doc')).id;
    const entry = await until('the notification', async () => (await notified(a.page)).find((n) => n.message === any));
    assert.equal(entry.title, `${BOB} in #${STANDUP}`);
    assert.equal(entry.body, 'retro notes are in the doc');
    const list = await settledNotified(a.page);
    assert.equal(list.filter((n) => n.message === seen).length, 0, 'not while the tab was visible');
    await closeNotifications(a.page);
  });

  await step('turned off, nothing is shown, also after a reload', async () => {
    await setHidden(a.page, false);
    await openPanel(a.page);
    await notifySwitch(a.page).click();
    await until('the switch to be off', async () => (await notifySwitch(a.page).getAttribute('aria-checked')) === 'false');
    assert.match(await panelStatus(a.page).innerText(), /^Off/);
    await a.page.reload();
    await a.page.getByRole('heading', { name: STANDUP, level: 1 }).waitFor();
    assert.equal(await bell(a.page).getAttribute('aria-label'), 'Browser notifications: off');
    await setHidden(a.page, true);
    const ignored = (await post(standupId, `@${ANN} are you there?`)).id;
    const list = await settledNotified(a.page);
    assert.equal(list.filter((n) => n.message === ignored).length, 0);
  });

  const subscriptions = async () => (await rest(c.page, 'GET', '/api/push/subscriptions')).subscriptions.map((s) => s.endpoint);
  const pushCalls = () => c.page.evaluate(() => window.__push.calls);
  let endpoint;

  await step('cat turns notifications on: the subscription is registered with the server', async () => {
    await openPanel(c.page);
    await notifySwitch(c.page).click();
    await until('the panel to say push is on', async () =>
      /^On: you are notified of new messages, even when confab is closed\./.test(await panelStatus(c.page).innerText()),
    );
    assert.equal(await bell(c.page).getAttribute('aria-label'), 'Browser notifications: on');
    const calls = await pushCalls();
    assert.equal(calls.length, 1);
    endpoint = calls[0][1];
    assert.deepEqual(await subscriptions(), [endpoint], 'the server has the subscription');
    await shot(c.page, '82-notifications-push-on');
  });

  await step('a reload keeps it; a new server key replaces it', async () => {
    await c.page.reload();
    await c.page.getByRole('heading', { name: `Hi ${CAT}` }).waitFor();
    await until('the bell to say on', async () => (await bell(c.page).getAttribute('aria-label')) === 'Browser notifications: on');
    assert.deepEqual(await pushCalls(), [], 'no new subscription after a reload');
    assert.deepEqual(await subscriptions(), [endpoint]);

    // As if the server's key had been regenerated since this browser subscribed.
    await c.page.evaluate(() => {
      const saved = JSON.parse(localStorage.getItem('e2e.fake-push'));
      localStorage.setItem('e2e.fake-push', JSON.stringify({ ...saved, key: `B${'A'.repeat(86)}` }));
    });
    await c.page.reload();
    await c.page.getByRole('heading', { name: `Hi ${CAT}` }).waitFor();
    const calls = await until('a new subscription', async () => {
      const list = await pushCalls();
      return list.length === 2 && list;
    });
    assert.deepEqual(calls[0], ['unsubscribe', endpoint], 'the old subscription ends');
    assert.equal(calls[1][0], 'subscribe');
    await until('the server to have only the new one', async () =>
      JSON.stringify(await subscriptions()) === JSON.stringify([calls[1][1]]),
    );
    endpoint = calls[1][1];
  });

  await step('bob’s @cat, left unread, is pushed by the server, encrypted and signed, and shown by cat’s worker', async () => {
    await rest(c.page, 'POST', `/api/rooms/${encodeURIComponent(standupId)}/join`);
    const text = `@${CAT} can you review the release notes?`;
    const sent = (await post(standupId, text)).id;
    const push = await until(
      'the server’s push to reach the push service',
      async () => pushService.received.find((p) => endpoint.endsWith(p.path)),
      15_000,
    );
    assert.equal(push.headers['content-encoding'], 'aes128gcm');
    assert.ok(Number(push.headers.ttl) > 0, 'a TTL');
    const serverKey = (await rest(c.page, 'GET', '/api/push/key')).public_key;
    assert.match(push.headers.authorization, new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${serverKey}$`), 'signed with the server’s VAPID key');
    const payload = JSON.parse(decryptPush(push.body, ecdh, authSecret));
    assert.deepEqual(
      { ...payload, sent_at: typeof payload.sent_at },
      {
        type: 'message',
        room: standupId,
        room_name: STANDUP,
        room_kind: 'public',
        sender: BOB,
        body: text,
        message: sent,
        sent_at: 'string',
        mention: true,
      },
    );

    const catsPushes = await pushChannel(c.page);
    await catsPushes.deliver(decryptPush(push.body, ecdh, authSecret));
    const shown = await until('cat’s notification', async () =>
      (await shownNotifications(c.page)).find((n) => n.message === sent),
    );
    assert.deepEqual(shown, { title: `${BOB} mentioned you in #${STANDUP}`, body: text, tag: `room:${standupId}`, message: sent });
    await catsPushes.detach();
  });

  await step('cat turns notifications off: the subscription ends on the server too', async () => {
    await openPanel(c.page);
    await notifySwitch(c.page).click();
    await until('the switch to be off', async () => (await notifySwitch(c.page).getAttribute('aria-checked')) === 'false');
    await until('the server to forget it', async () => (await subscriptions()).length === 0);
    assert.deepEqual((await pushCalls()).at(-1), ['unsubscribe', endpoint]);
  });

  await step('a server with push turned off: notifications still turn on, the panel says why push is unavailable', async () => {
    // As a server started with `push.enabled = false` answers.
    await b.page.route('**/api/push/key', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'push_disabled', message: 'Push notifications are turned off on this server.' } }),
      }),
    );
    await b.context.grantPermissions(['notifications'], { origin: baseUrl });
    await openPanel(b.page);
    await notifySwitch(b.page).click();
    await until('the panel to say why', async () =>
      (await panelStatus(b.page).innerText()) ===
        'On while confab is open in a tab. Push is unavailable: push is turned off on this server.',
    );
    await b.page.locator('.toast', { hasText: 'push is turned off on this server' }).waitFor();
    await b.page.unroute('**/api/push/key');
  });

  await step('the notification screens name every control; no page errors or CSP violations', async () => {
    await openPanel(a.page);
    await t.assertControlsNamed(a.page, 'notifications panel');
    assert.deepEqual(t.problems, [], 'no dialogs, page errors or CSP violations');
  });

  await annsPushes.detach();
  await pushService.close();
  await a.context.close();
  await b.context.close();
  await c.context.close();
}
