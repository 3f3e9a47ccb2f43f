// The `unread` scenario of e2e.mjs: read state, mentions and notification
// levels, seen by ann (who owns a room) and bob (a member reading elsewhere).
//
// - bob has another room open while ann posts three messages, one with
//   `@bob`; without a reload or a fetch of the room list (live, from the
//   server's `room_activity` frames) the sidebar shows "3" and "@1" on ann's
//   room, its name in bold, the room moves to the top of the list, and the
//   tab title starts with "(3) ".
// - bob opens the room: a "New messages" divider sits above the first of
//   them, the `@bob` message is highlighted (with a hint for screen readers),
//   the badges and the title prefix go away, and the server has his read
//   marker (`unread_count` 0 over REST).
// - while bob reads the open room at its newest message, ann's next messages
//   never light its badge or the title count, not even for a moment.
// - bob's own messages, sent from a second tab, are announced to the first
//   one as read: no badge, no title count, but the room moves up.
// - the composer completes `@a` to ann's name with the keyboard (Escape
//   closes the list); the message sent mentions ann, and ann sees it
//   highlighted.
// - the notification menu shows the room's level ("Mentions" by default) and
//   saves "All messages" (REST says `all`).
// - 100 unread (a burst the server coalesces) show as "99+" live, and the
//   title counts exactly 100; opening the room does not jump to the newest
//   message, and the marker waits until bob scrolls down to it.
// - while bob's tab is hidden, an `@room` message counts in his title and
//   sidebar and no marker is sent; when the tab is visible again it is.

import assert from 'node:assert/strict';

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function unreadScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const ANN = `ann_${run}`;
  const BOB = `bob_${run}`;
  const ROOM = `launch-${run}`;
  const ELSEWHERE = `elsewhere-${run}`;
  const POSTS = ['Release notes are drafted.', `@${BOB} can you check the changelog?`, 'Shipping after lunch.'];

  const a = await t.newUser(browser, 'ann');
  const b = await t.newUser(browser, 'bob');
  let roomId;
  let elsewhereId;

  const { signUp } = t;
  const { rest } = t;
  const openRoom = async (page, id, name) => {
    await page.goto(`${baseUrl}/#/room/${encodeURIComponent(id)}`);
    await page.getByRole('heading', { name, level: 1 }).waitFor();
  };
  const sidebarLink = (page, name) =>
    page.locator('nav.sidebar').getByRole('list', { name: 'Rooms' }).getByRole('link', { name });
  const composer = (page) => page.getByRole('textbox', { name: `Message #${ROOM}` });
  const rowByText = (page, text) =>
    page.locator('.message-list .msg[data-id]').filter({ has: page.locator('.msg-body', { hasText: text }) });
  const bobsRoom = () => rest(b.page, 'GET', `/api/rooms/${encodeURIComponent(roomId)}`);
  /** The names of bob's sidebar rooms, in their order. */
  const sidebarOrder = (page) =>
    page.locator('nav.sidebar').getByRole('list', { name: 'Rooms' }).locator('.side-name').allInnerTexts();

  // What bob's first tab hears and asks: `room_activity` frames, and fetches of the room list.
  const activity = [];
  let listFetches = 0;
  b.page.on('websocket', (ws) =>
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string' || !payload.includes('"room_activity"')) return;
      const frame = JSON.parse(payload);
      if (frame.type === 'room_activity') activity.push(frame);
    }),
  );
  b.page.on('request', (request) => {
    if (request.method() === 'GET' && new URL(request.url()).pathname === '/api/rooms') listFetches += 1;
  });
  /** Waits until bob's first tab has been told of the message with this body in ann's room. */
  const announced = (body) =>
    until(`a room_activity frame for "${body}"`, async () =>
      activity.find((f) => f.room === roomId && f.last_message?.body === body),
    );

  await step('ann and bob sign up; bob joins ann’s room and opens another one', async () => {
    await signUp(a.page, ANN);
    await signUp(b.page, BOB);
    roomId = (await rest(a.page, 'POST', '/api/rooms', { name: ROOM })).id;
    await rest(b.page, 'POST', `/api/rooms/${encodeURIComponent(roomId)}/join`);
    elsewhereId = (await rest(b.page, 'POST', '/api/rooms', { name: ELSEWHERE })).id;
    await openRoom(a.page, roomId, ROOM);
    await openRoom(b.page, elsewhereId, ELSEWHERE);
    await sidebarLink(b.page, ROOM).waitFor();
    assert.equal(await sidebarLink(b.page, ROOM).locator('.side-badge').count(), 0, 'nothing unread yet');
    assert.equal(await b.page.title(), `#${ELSEWHERE} · confab`);
    await until('bob’s newer room to lead the sidebar', async () => (await sidebarOrder(b.page))[0] === ELSEWHERE);
  });

  await step('ann posts three messages, one mentioning bob', async () => {
    listFetches = 0;
    for (const text of POSTS) {
      const box = composer(a.page);
      await box.fill(text);
      await box.press('Enter');
      await until('the composer to clear', async () => (await box.inputValue()) === '');
      await rowByText(a.page, text).waitFor();
    }
    await until('ann’s three messages to be stored', async () => (await a.page.locator('.msg.pending').count()) === 0);
    const room = await bobsRoom();
    assert.equal(room.unread_count, 3, 'the server counts 3 unread for bob');
    assert.equal(room.mention_count, 1, 'the server counts 1 mention of bob');
    assert.equal(room.notifications, 'mentions', 'a room starts at "mentions"');
  });

  await step('bob’s sidebar shows 3 unread and 1 mention live, without a reload', async () => {
    // No visibilitychange, reload or timer: the server's room_activity frames alone.
    const link = sidebarLink(b.page, ROOM);
    await until('the badges', async () => (await link.locator('.side-badge').allInnerTexts()).join(' ') === '@1 3', 5_000);
    assert.match(await link.getAttribute('class'), /\bside-unread\b/, 'the room name is bold');
    await sidebarLink(b.page, `${ROOM}, 3 unread, 1 mention`).waitFor();
    await until('the title to count 3 unread', async () => (await b.page.title()) === `(3) #${ELSEWHERE} · confab`, 5_000);
    assert.equal(await sidebarLink(b.page, ELSEWHERE).locator('.side-badge').count(), 0, 'the open room has no badge');
    assert.equal((await sidebarOrder(b.page))[0], ROOM, 'the active room moved to the top');
    assert.equal(listFetches, 0, 'the room list was not fetched again');
    assert.ok(activity.some((f) => f.room === roomId), 'bob’s tab got room_activity frames');
    const last = activity.filter((f) => f.room === roomId).at(-1);
    assert.deepEqual([last.unread_count, last.mention_count], [3, 1], 'the last frame carries the totals');
    await shot(b.page, '70-unread-badges');
  });

  await step('bob opens the room: divider, highlighted mention, badges and title cleared, marker stored', async () => {
    await sidebarLink(b.page, ROOM).click();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    const divider = b.page.getByRole('separator', { name: 'New messages' });
    await divider.waitFor();
    assert.ok(await divider.isVisible(), 'the divider is on screen');
    const below = await divider.evaluate((el) => el.nextElementSibling?.querySelector('.msg-body')?.textContent);
    assert.equal(below?.trim(), POSTS[0], 'the divider sits above the first unread message');
    const mention = rowByText(b.page, 'can you check the changelog');
    assert.match(await mention.getAttribute('class'), /\bmsg-mention\b/, 'the mention is highlighted');
    assert.equal(await mention.locator('.sr-only', { hasText: 'Mentions you:' }).count(), 1, 'with a hint');
    assert.doesNotMatch(await rowByText(b.page, POSTS[0]).getAttribute('class'), /\bmsg-mention\b/);

    await until('the badges to clear', async () => (await sidebarLink(b.page, ROOM).locator('.side-badge').count()) === 0);
    assert.doesNotMatch(await sidebarLink(b.page, ROOM).getAttribute('class'), /\bside-unread\b/);
    await until('the title to drop its count', async () => (await b.page.title()) === `#${ROOM} · confab`);
    const lastId = await rowByText(b.page, POSTS[2]).getAttribute('data-id');
    const room = await until('the server to have bob’s read marker', async () => {
      const r = await bobsRoom();
      return r.unread_count === 0 && r;
    });
    assert.equal(room.mention_count, 0);
    assert.equal(room.last_read, lastId, 'the marker is at the newest message');
    await shot(b.page, '71-unread-opened');
  });

  await step('ann posts while bob reads at the newest message: no badge or title count, even briefly', async () => {
    // Record every badge on the open room and every title with a count, however short-lived.
    await b.page.evaluate((name) => {
      window.__flicker = [];
      const record = () => {
        const link = [...document.querySelectorAll('nav.sidebar .side-room')].find(
          (a) => a.querySelector('.side-name')?.textContent === name,
        );
        if (link?.querySelector('.side-badge')) window.__flicker.push(`badge ${link.textContent}`);
        if (/^\(\d+\)/.test(document.title)) window.__flicker.push(`title ${document.title}`);
      };
      window.__flickerObserver = new MutationObserver(record);
      window.__flickerObserver.observe(document.querySelector('nav.sidebar'), { childList: true, subtree: true });
      window.__flickerObserver.observe(document.querySelector('title'), { childList: true, characterData: true, subtree: true });
    }, ROOM);
    const texts = ['Quick one while you are here.', `@${BOB} and one for you.`];
    for (const text of texts) {
      const box = composer(a.page);
      await box.fill(text);
      await box.press('Enter');
      await rowByText(b.page, text).waitFor();
    }
    await announced(texts[1]);
    const newest = await rowByText(b.page, texts[1]).getAttribute('data-id');
    await until('the server to have bob’s marker', async () => (await bobsRoom()).last_read === newest);
    await b.page.waitForTimeout(600);
    const seen = await b.page.evaluate(() => {
      window.__flickerObserver.disconnect();
      return window.__flicker;
    });
    assert.deepEqual(seen, [], 'the open room never showed a badge or a title count');
    assert.equal(await b.page.title(), `#${ROOM} · confab`);
  });

  await step('bob’s own messages from a second tab leave no badge in the first', async () => {
    await sidebarLink(b.page, ELSEWHERE).click();
    await b.page.getByRole('heading', { name: ELSEWHERE, level: 1 }).waitFor();
    // A message of his own in the open room puts it on top, and lights nothing either.
    const here = b.page.getByRole('textbox', { name: `Message #${ELSEWHERE}` });
    await here.fill('Notes for myself.');
    await here.press('Enter');
    await until('bob’s open room to lead the sidebar', async () => (await sidebarOrder(b.page))[0] === ELSEWHERE);
    const second = await b.context.newPage();
    second.on('pageerror', (error) => t.problems.push(`bob (second tab): uncaught error: ${error.message}`));
    await openRoom(second, roomId, ROOM);
    const own = ['Posting from my other tab.', 'And once more, from the other tab.'];
    for (const text of own) {
      const box = composer(second);
      await box.fill(text);
      await box.press('Enter');
      await until('the composer to clear', async () => (await box.inputValue()) === '');
      await rowByText(second, text).waitFor();
    }
    const frame = await announced(own[1]);
    assert.equal(frame.unread_count, 0, 'the server counts bob’s own message as read');
    await until('the room to move up', async () => (await sidebarOrder(b.page))[0] === ROOM);
    await b.page.waitForTimeout(400);
    assert.equal(await sidebarLink(b.page, ROOM).locator('.side-badge').count(), 0, 'no badge for bob’s own messages');
    assert.doesNotMatch(await sidebarLink(b.page, ROOM).getAttribute('class'), /\bside-unread\b/);
    assert.equal(await b.page.title(), `#${ELSEWHERE} · confab`, 'no count in the title');
    assert.equal(await sidebarLink(b.page, ELSEWHERE).locator('.side-badge').count(), 0);
    await second.close();

    await sidebarLink(b.page, ROOM).click();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
  });

  await step('bob completes @a to ann with the keyboard and sends; ann sees the mention', async () => {
    const box = composer(b.page);
    const list = b.page.getByRole('listbox', { name: 'Mention someone' });
    await box.click();
    await box.pressSequentially('@r', { delay: 20 });
    await list.getByRole('option', { name: '@room' }).waitFor();
    await box.press('Escape');
    await list.waitFor({ state: 'hidden' });
    await box.fill('');

    await box.pressSequentially('@a', { delay: 20 });
    const option = list.getByRole('option', { name: ANN });
    await option.waitFor();
    assert.equal(await option.getAttribute('aria-selected'), 'true', 'the first suggestion is highlighted');
    assert.equal(await box.getAttribute('aria-activedescendant'), await option.getAttribute('id'));
    assert.equal(await list.getByRole('option').count(), 1, 'only members starting with "a" (bob is not offered)');
    await shot(b.page, '72-mention-completion');
    await box.press('ArrowDown');
    await box.press('Tab');
    await list.waitFor({ state: 'hidden' });
    assert.equal(await box.inputValue(), `@${ANN} `);
    await box.pressSequentially('the changelog looks good', { delay: 5 });
    await box.press('Enter');
    await until('the composer to clear', async () => (await box.inputValue()) === '');

    const sent = await until('the message to be stored', async () => {
      const { messages } = await rest(b.page, 'GET', `/api/rooms/${encodeURIComponent(roomId)}/messages?limit=10`);
      return messages.find((m) => m.body === `@${ANN} the changelog looks good`);
    });
    assert.deepEqual(sent.mentions, [ANN.toLowerCase()], 'the message mentions ann');
    const seen = rowByText(a.page, 'the changelog looks good');
    await seen.waitFor();
    assert.match(await seen.getAttribute('class'), /\bmsg-mention\b/, 'ann sees her mention highlighted');
    assert.doesNotMatch(await rowByText(b.page, 'the changelog looks good').getAttribute('class'), /\bmsg-mention\b/);
  });

  await step('the notification menu shows "Mentions" and saves "All messages"', async () => {
    const button = b.page.getByRole('button', { name: 'Notifications: Mentions' });
    await button.click();
    const menu = b.page.getByRole('menu', { name: 'Notifications' });
    await menu.waitFor();
    const checked = () => menu.locator('[role="menuitemradio"][aria-checked="true"]').innerText();
    assert.match(await checked(), /^Mentions/);
    await shot(b.page, '73-notification-menu');
    await menu.getByRole('menuitemradio', { name: /^All messages/ }).click();
    await menu.waitFor({ state: 'hidden' });
    await b.page.getByRole('button', { name: 'Notifications: All messages' }).waitFor();
    assert.equal((await bobsRoom()).notifications, 'all', 'the server has the new level');

    // Keyboard: the menu opens on the checked item, Escape closes it and returns focus.
    await b.page.getByRole('button', { name: 'Notifications: All messages' }).focus();
    await b.page.keyboard.press('Enter');
    await menu.waitFor();
    assert.match(await b.page.evaluate(() => document.activeElement.textContent), /^All messages/);
    await b.page.keyboard.press('ArrowDown');
    assert.match(await b.page.evaluate(() => document.activeElement.textContent), /^Mentions/);
    await b.page.keyboard.press('Escape');
    await menu.waitFor({ state: 'hidden' });
    assert.equal(await b.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Notifications: All messages');
    assert.equal((await bobsRoom()).notifications, 'all', 'Escape changed nothing');
  });

  await step('a message arriving while bob’s tab is hidden counts in the title until he looks again', async () => {
    const setHidden = (hidden) =>
      b.page.evaluate((hidden) => {
        Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
    await setHidden(true);
    const box = composer(a.page);
    await box.fill('@room lunch is here');
    await box.press('Enter');
    const row = rowByText(b.page, 'lunch is here');
    await row.waitFor();
    assert.match(await row.getAttribute('class'), /\bmsg-mention\b/, '@room is a mention of bob too');
    await until('the title to count 1 unread', async () => (await b.page.title()) === `(1) #${ROOM} · confab`);
    assert.equal(
      (await sidebarLink(b.page, ROOM).locator('.side-badge').allInnerTexts()).join(' '),
      '@1 1',
      'the open room counts what arrived unseen',
    );
    await b.page.waitForTimeout(800);
    assert.equal((await bobsRoom()).unread_count, 1, 'no read marker is sent while the tab is hidden');

    await setHidden(false);
    await until('the title to drop its count', async () => (await b.page.title()) === `#${ROOM} · confab`);
    await until('the server to have the marker', async () => (await bobsRoom()).unread_count === 0);
    await until('the badges to clear', async () => (await sidebarLink(b.page, ROOM).locator('.side-badge').count()) === 0);
  });

  await step('100 unread show as "99+" live; the marker waits until bob reaches the newest', async () => {
    await sidebarLink(b.page, ELSEWHERE).click();
    await b.page.getByRole('heading', { name: ELSEWHERE, level: 1 }).waitFor();
    await a.page.evaluate(async (id) => {
      for (let i = 1; i <= 100; i += 1) {
        const res = await fetch(`/api/rooms/${encodeURIComponent(id)}/messages`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ body: `backlog ${i} of 100` }),
        });
        if (res.status !== 201) throw new Error(`POST message: ${res.status}`);
      }
    }, roomId);
    // Coalesced frames, no list fetch: counts that replace, never add up.
    await sidebarLink(b.page, `${ROOM}, 100 unread`).waitFor();
    assert.equal(await sidebarLink(b.page, ROOM).locator('.side-badge').innerText(), '99+');
    await until('the title to count 100', async () => (await b.page.title()) === `(100) #${ELSEWHERE} · confab`);

    await sidebarLink(b.page, ROOM).click();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    await b.page.getByRole('separator', { name: 'New messages' }).waitFor({ state: 'attached' });
    const newest = rowByText(b.page, 'backlog 100 of 100');
    await newest.waitFor({ state: 'attached' });
    const onScreen = () =>
      newest.evaluate((el) => {
        const r = el.getBoundingClientRect();
        const s = el.closest('.messages').getBoundingClientRect();
        return r.top < s.bottom && r.bottom > s.top;
      });
    const divider = b.page.getByRole('separator', { name: 'New messages' });
    await until('the divider above "backlog 1" to be on screen', async () => {
      const [seen, below] = await divider.evaluate((el) => {
        const r = el.getBoundingClientRect();
        const s = el.closest('.messages').getBoundingClientRect();
        return [r.top >= s.top && r.bottom <= s.bottom, el.nextElementSibling?.querySelector('.msg-body')?.textContent];
      });
      return seen && below?.trim() === 'backlog 1 of 100';
    });
    assert.equal(await onScreen(), false, 'the view starts at the new messages, not at the newest');
    await b.page.waitForTimeout(800);
    assert.equal((await bobsRoom()).unread_count, 100, 'nothing is marked read before the newest is seen');
    await shot(b.page, '74-unread-backlog');

    await b.page.locator('.messages').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await until('the server to have the marker', async () => (await bobsRoom()).unread_count === 0);
    await until('the title to drop its count', async () => (await b.page.title()) === `#${ROOM} · confab`);
  });

  await step('the unread screens name every control; no page errors or CSP violations', async () => {
    await t.assertControlsNamed(b.page, 'chat with unread state');
    assert.deepEqual(t.problems, [], 'no dialogs, page errors or CSP violations');
  });

  await a.context.close();
  await b.context.close();
}
