// The `messages` scenario of e2e.mjs: messages people can shape (issue 12),
// seen by two users side by side, ann (who creates the room, so owns it) and
// ben. Neither is a server admin: an account made first takes that role.
//
// - Markdown renders ("hello **world**" shows bold), script never runs.
// - ben replies with the hover toolbar: a "Replying to" bar, Escape cancels;
//   ann sees the quoted line and clicking it scrolls to and highlights the
//   original.
// - ann edits with Up in the empty composer (Escape cancels, Enter saves);
//   ben sees the new text and "(edited)" live, quotes follow.
// - who may do what: edit only your own; delete your own, or any as the
//   room's owner.
// - reactions from the picker (mouse, search) and the keyboard; chips count,
//   show whose, and toggle on click; a 21st emoji is refused with a toast.
// - deleting asks first and leaves a tombstone, also in quotes.
// - a long press on a phone opens the toolbar.
// - after a dropped connection ben rejoins with `after` = the highest `seq`
//   he saw and gets the edits, deletions and reactions he missed.
// - a reload shows exactly the same state, which is also REST's.

import assert from 'node:assert/strict';

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function messagesScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const ANN = `ann_${run}`;
  const BEN = `ben_${run}`;
  const ROOM = `notes-${run}`;
  const FILLERS = 30;
  const filler = (i) => `filler ${i} of ${FILLERS}`;

  const a = await t.newUser(browser, 'ann');
  const b = await t.newUser(browser, 'ben');
  let roomId;
  let helloId;
  let replyId;

  // ben's WebSocket goes through a route we control: to cut it, and to read the `join` he sends.
  const wsControl = { blocked: false, routes: [], sent: [] };
  await b.page.routeWebSocket(/\/api\/ws$/, (ws) => {
    if (wsControl.blocked) {
      ws.close({ code: 1011, reason: 'blocked by test' });
      return;
    }
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      wsControl.sent.push(message);
      server.send(message);
    });
    wsControl.routes.push(ws);
  });
  // Nothing in a message may make the page fetch from elsewhere (images in Markdown are links).
  const foreignRequests = [];
  for (const page of [a.page, b.page]) {
    page.on('request', (request) => {
      if (!request.url().startsWith(baseUrl) && !request.url().startsWith('data:')) foreignRequests.push(request.url());
    });
  }

  const { signUp } = t;
  const openRoom = async (page) => {
    await page.goto(`${baseUrl}/#/room/${encodeURIComponent(roomId)}`);
    await page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
  };
  const composer = (page) => page.getByRole('textbox', { name: `Message #${ROOM}` });
  const say = async (page, text) => {
    const box = composer(page);
    await box.fill(text);
    await box.press('Enter');
    await until('the composer to clear', async () => (await box.inputValue()) === '');
  };
  const rowByText = (page, text) =>
    page.locator('.message-list .msg[data-id]').filter({ has: page.locator('.msg-body', { hasText: text }) });
  const rowById = (page, id) => page.locator(`.message-list .msg[data-id="${id}"]`);
  const lastId = (page) => page.locator('.message-list .msg[data-id]').last().getAttribute('data-id');
  /** Sends from the composer and returns the new message's id once the server has it. */
  const sayAndGetId = async (page, text) => {
    const previous = await lastId(page);
    await say(page, text);
    return until(`"${text}" to be acknowledged`, async () => {
      const id = await lastId(page);
      return id !== previous && (await page.locator('.msg.pending').count()) === 0 && id;
    });
  };
  /** Hovers a message and clicks one of its toolbar buttons. */
  const act = async (row, label) => {
    await row.hover();
    await row.locator('.msg-actions').getByRole('button', { name: label, exact: true }).click();
  };
  const toolbarLabels = async (row) => {
    await row.hover();
    return row.locator('.msg-actions button').evaluateAll((buttons) => buttons.map((b) => b.getAttribute('aria-label')));
  };
  const chip = (row, emoji) => row.locator(`.reaction[data-emoji="${emoji}"]`);
  const chipState = async (row, emoji) => {
    const c = chip(row, emoji);
    if ((await c.count()) === 0) return null;
    return `${await c.locator('.reaction-count').textContent()} ${await c.getAttribute('aria-pressed')}`;
  };
  const bodyText = async (row) => (await row.locator('.msg-body').textContent()).trim();
  const restMessages = (page) =>
    page.evaluate(async (id) => {
      const res = await fetch(`/api/rooms/${encodeURIComponent(id)}/messages?limit=200`);
      if (!res.ok) throw new Error(`GET messages: ${res.status}`);
      return (await res.json()).messages;
    }, roomId);
  const later = (x, y) => (x.length !== y.length ? x.length > y.length : x > y);
  /** What the reader sees of every message, to compare before and after a reload. */
  const viewState = (page) =>
    page.locator('.message-list .msg[data-id]').evaluateAll((rows) =>
      rows.map((el) => ({
        id: el.dataset.id,
        deleted: Boolean(el.querySelector('.msg-tombstone')),
        text: el.querySelector('.msg-body')?.textContent.replace(/\s*\(edited\)$/, '') ?? null,
        edited: el.querySelector('.msg-edited')?.getAttribute('datetime') ?? null,
        reactions: [...el.querySelectorAll('.reaction[data-emoji]')].map(
          (c) => `${c.dataset.emoji} ${c.querySelector('.reaction-count').textContent} ${c.getAttribute('aria-pressed')}`,
        ),
        quote: el.querySelector('.msg-quote')?.textContent ?? null,
      })),
    );

  await step('ann and ben sign up; ann creates a room and both open it', async () => {
    // The first account on a server is an admin, who may delete anything: not ann or ben.
    const admin = await fetch(`${baseUrl}/api/auth/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: `root_${run}`, password: t.PASSWORD }),
    });
    assert.ok(admin.ok, `register the admin: ${admin.status}`);
    await signUp(a.page, ANN);
    await signUp(b.page, BEN);
    roomId = await a.page.evaluate(async (name) => {
      const res = await fetch('/api/rooms', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 201) throw new Error(`create room: ${res.status}`);
      return (await res.json()).id;
    }, ROOM);
    await openRoom(a.page);
    await openRoom(b.page);
    for (const page of [a.page, b.page]) {
      assert.equal(await page.locator('.topbar .tag', { hasText: 'admin' }).count(), 0, 'not an admin');
    }
    await a.page.locator('.members-panel .member-name', { hasText: BEN }).waitFor();
    await b.page.locator('.connection[data-state="open"]').waitFor();
  });

  await step('Markdown renders: "hello **world**" shows bold for the other user', async () => {
    await say(a.page, 'hello **world**');
    const row = rowByText(b.page, 'hello world');
    await row.waitFor();
    helloId = await row.getAttribute('data-id');
    assert.equal(await bodyText(row), 'hello world', 'no asterisks left');
    assert.equal(await row.locator('.msg-body strong').textContent(), 'world');
    await t.expectMessage(b.page, ANN, 'hello world');
    await shot(b.page, '50-markdown-bold');
  });

  await step('ben replies from the toolbar; Escape cancels a reply, the send carries it', async () => {
    const bulk = Array.from({ length: FILLERS }, (_, i) => filler(i + 1));
    await b.page.evaluate(
      async ({ id, bodies }) => {
        for (const body of bodies) {
          const res = await fetch(`/api/rooms/${encodeURIComponent(id)}/messages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ body }),
          });
          if (res.status !== 201) throw new Error(`POST message: ${res.status}`);
        }
      },
      { id: roomId, bodies: bulk },
    );
    await rowByText(a.page, filler(FILLERS)).waitFor();
    const bar = b.page.locator('.reply-bar');
    await act(rowById(b.page, helloId), 'Reply');
    await bar.waitFor();
    assert.match(await bar.innerText(), new RegExp(`Replying to ${ANN}: hello world`));
    await until('the composer to have focus', () => composer(b.page).evaluate((el) => el === document.activeElement));
    await shot(b.page, '51-reply-bar');
    await composer(b.page).press('Escape');
    await bar.waitFor({ state: 'hidden' });
    await act(rowById(b.page, helloId), 'Reply');
    await bar.waitFor();
    await say(b.page, 'agreed, nice');
    await bar.waitFor({ state: 'hidden' });
    const reply = rowByText(a.page, 'agreed, nice');
    await reply.waitFor();
    replyId = await reply.getAttribute('data-id');
    const quote = reply.locator('.msg-quote');
    await quote.waitFor();
    assert.equal(await quote.locator('.msg-quote-author').textContent(), ANN);
    assert.equal(await quote.locator('.msg-quote-text').textContent(), 'hello world');
    const rest = (await restMessages(a.page)).find((m) => m.id === replyId);
    assert.equal(rest.reply_to, helloId, 'the reply was sent with reply_to');
  });

  await step('clicking the quote scrolls to the original and highlights it', async () => {
    const original = rowById(a.page, helloId);
    const inView = async () => {
      const [row, view] = await Promise.all([original.boundingBox(), a.page.locator('.messages').boundingBox()]);
      return row && row.y >= view.y && row.y + row.height <= view.y + view.height;
    };
    await a.page.locator('.messages').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await until('the original to be out of view', async () => !(await inView()));
    await rowById(a.page, replyId).locator('.msg-quote').click();
    await until('the original to scroll into view', inView);
    await until('the original to be highlighted', () => original.evaluate((el) => el.classList.contains('msg-flash')));
    await shot(a.page, '52-reply-jump-highlight');
  });

  await step('ann edits with Up in the empty composer; Escape cancels, Enter saves; ben sees it live', async () => {
    const box = composer(a.page);
    const editor = a.page.getByRole('textbox', { name: 'Edit message' });
    await box.focus();
    await box.press('ArrowUp');
    await editor.waitFor();
    assert.equal(await editor.inputValue(), 'hello **world**', 'the source text is edited, not the HTML');
    assert.equal(await rowById(a.page, helloId).getByRole('textbox', { name: 'Edit message' }).count(), 1);
    await editor.press('Escape');
    await editor.waitFor({ state: 'detached' });
    assert.equal(await bodyText(rowById(a.page, helloId)), 'hello world', 'cancel keeps the text');
    await until('the composer to get focus back', () => box.evaluate((el) => el === document.activeElement));
    await box.press('ArrowUp');
    await editor.fill('hello **brave new** world');
    await shot(a.page, '53-editing');
    await editor.press('Enter');
    await editor.waitFor({ state: 'detached' });
    for (const page of [b.page, a.page]) {
      const row = rowById(page, helloId);
      await until('the edit to show', async () => (await bodyText(row)) === 'hello brave new world (edited)');
      assert.equal(await row.locator('.msg-body strong').textContent(), 'brave new');
      const marker = row.locator('.msg-edited');
      assert.match(await marker.getAttribute('title'), /^Edited \w+/, 'the edited time is the title');
      assert.ok(!Number.isNaN(Date.parse(await marker.getAttribute('datetime'))));
      await until('the quote to follow the edit', async () =>
        (await rowById(page, replyId).locator('.msg-quote-text').textContent()) === 'hello brave new world');
    }
    await rowById(b.page, helloId).scrollIntoViewIfNeeded();
    await shot(b.page, '54-edited-live');
  });

  await step('only the author edits; the author or the room owner deletes', async () => {
    assert.deepEqual(await toolbarLabels(rowById(b.page, helloId)), ['Reply', 'Add reaction']);
    assert.deepEqual(await toolbarLabels(rowById(b.page, replyId)), ['Reply', 'Add reaction', 'Edit message', 'Delete message']);
    // ann created the room, so she owns it: she may delete ben's message (as its owner, not as an
    // admin), but not edit it.
    assert.deepEqual(await toolbarLabels(rowById(a.page, replyId)), ['Reply', 'Add reaction', 'Delete message']);
  });

  await step('ben reacts from the picker; ann sees the chip and adds hers by clicking it', async () => {
    await act(rowById(b.page, helloId), 'Add reaction');
    const picker = b.page.getByRole('dialog', { name: 'Add a reaction' });
    await picker.waitFor();
    assert.ok((await picker.getByRole('button').count()) >= 40, 'about 40 common emoji');
    await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('thumbs');
    assert.equal(await picker.getByRole('button').count(), 2, 'thumbs up and thumbs down');
    await shot(b.page, '55-emoji-picker');
    await picker.getByRole('button', { name: 'thumbs up', exact: true }).click();
    await picker.waitFor({ state: 'hidden' });
    const annRow = rowById(a.page, helloId);
    await until('ann to see one 👍', async () => (await chipState(annRow, '👍')) === '1 false');
    assert.match(await chip(annRow, '👍').getAttribute('title'), new RegExp(`^${BEN} reacted with thumbs up$`));
    await chip(annRow, '👍').click();
    await until('ann to see two 👍, hers included', async () => (await chipState(annRow, '👍')) === '2 true');
    await until('ben to see two 👍', async () => (await chipState(rowById(b.page, helloId), '👍')) === '2 true');
    assert.match(await chip(annRow, '👍').getAttribute('title'), new RegExp(`^You and ${BEN} reacted`));
    await shot(a.page, '56-reactions');
  });

  await step('the toolbar and the picker work from the keyboard', async () => {
    const row = rowById(a.page, replyId);
    await row.locator('.msg-actions [tabindex="0"]').focus();
    await a.page.keyboard.press('ArrowRight');
    const addReaction = row.locator('.msg-actions').getByRole('button', { name: 'Add reaction' });
    assert.ok(await addReaction.evaluate((el) => el === document.activeElement), 'ArrowRight moves within the toolbar');
    await until('the toolbar to show while focused', async () =>
      (await row.locator('.msg-actions').evaluate((el) => getComputedStyle(el).opacity)) === '1');
    await a.page.keyboard.press('Enter');
    const picker = a.page.getByRole('dialog', { name: 'Add a reaction' });
    const search = picker.getByRole('searchbox', { name: 'Search emoji' });
    await until('the search box to have focus', () => search.evaluate((el) => el === document.activeElement));
    await a.page.keyboard.press('Escape');
    await picker.waitFor({ state: 'hidden' });
    assert.ok(await addReaction.evaluate((el) => el === document.activeElement), 'Escape gives focus back');
    await a.page.keyboard.press('Enter');
    await search.waitFor();
    await a.page.keyboard.type('party');
    await a.page.keyboard.press('Enter');
    await until('ann’s 🎉 on the reply', async () => (await chipState(row, '🎉')) === '1 true');
    await until('ben to see it', async () => (await chipState(rowById(b.page, replyId), '🎉')) === '1 false');
  });

  await step('ben edits his reply from the toolbar; ann sees "(edited)"', async () => {
    await act(rowById(b.page, replyId), 'Edit message');
    const editor = b.page.getByRole('textbox', { name: 'Edit message' });
    await editor.fill('agreed, very nice');
    await editor.press('Enter');
    await editor.waitFor({ state: 'detached' });
    await until('ann to see the edited reply', async () =>
      (await bodyText(rowById(a.page, replyId))) === 'agreed, very nice (edited)');
    assert.equal(await chipState(rowById(a.page, replyId), '🎉'), '1 true', 'reactions survive an edit');
  });

  await step('ann deletes her message after confirming; ben sees the tombstone live', async () => {
    await act(rowById(a.page, helloId), 'Delete message');
    const confirm = a.page.getByRole('dialog', { name: 'Delete this message?' });
    await confirm.waitFor();
    await shot(a.page, '57-delete-confirm');
    await confirm.getByRole('button', { name: 'Delete' }).click();
    for (const page of [b.page, a.page]) {
      const row = rowById(page, helloId);
      await row.locator('.msg-tombstone', { hasText: 'message deleted' }).waitFor();
      assert.equal(await row.locator('.msg-body').count(), 0, 'no text left');
      assert.equal(await row.locator('.reaction').count(), 0, 'no reactions left');
      assert.equal(await row.locator('.msg-actions').count(), 0, 'no actions on a tombstone');
      await until('the quote to say it was deleted', async () =>
        (await rowById(page, replyId).locator('.msg-quote-text').textContent()) === 'a deleted message');
    }
    await rowById(b.page, helloId).scrollIntoViewIfNeeded();
    await shot(b.page, '58-tombstone');
  });

  await step('on a phone, a long press opens the toolbar', async () => {
    await say(a.page, 'long press me');
    const phone = await t.newUser(browser, 'ben-phone', { width: 390, height: 844 }, { hasTouch: true, isMobile: true });
    await phone.page.goto(`${baseUrl}/#/login`);
    await phone.page.getByLabel('Username').fill(BEN);
    await phone.page.getByLabel('Password').fill(t.PASSWORD);
    await phone.page.getByRole('button', { name: 'Log in' }).click();
    await phone.page.getByRole('heading', { name: `Hi ${BEN}` }).waitFor();
    await openRoom(phone.page);
    const row = rowByText(phone.page, 'long press me');
    await row.waitFor();
    const box = await row.locator('.msg-body').boundingBox();
    const cdp = await phone.context.newCDPSession(phone.page);
    const point = { x: box.x + 20, y: box.y + box.height / 2 };
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
    await phone.page.waitForTimeout(700);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    await cdp.detach();
    await until('the toolbar to open', () => row.evaluate((el) => el.classList.contains('actions-open')));
    await until('the toolbar to show', async () =>
      (await row.locator('.msg-actions').evaluate((el) => getComputedStyle(el).opacity)) === '1');
    await shot(phone.page, '59-phone-long-press');
    await row.locator('.msg-actions').getByRole('button', { name: 'Add reaction' }).tap();
    const picker = phone.page.getByRole('dialog', { name: 'Add a reaction' });
    await picker.waitFor();
    await picker.getByRole('button', { name: 'eyes', exact: true }).tap();
    await until('ann to see ben’s 👀', async () => (await chipState(rowByText(a.page, 'long press me'), '👀')) === '1 false');
    await phone.context.close();
  });

  await step('after a dropped connection ben rejoins from his cursor and gets what changed', async () => {
    const pressId = await rowByText(b.page, 'long press me').getAttribute('data-id');
    await rowByText(b.page, 'long press me').locator('.reaction[data-emoji="👀"]').waitFor();
    const expected = (await restMessages(b.page))
      .flatMap((m) => [m.id, m.seq ?? m.id])
      .reduce((max, x) => (later(x, max) ? x : max));
    const filler2 = await rowByText(b.page, filler(2)).getAttribute('data-id');
    const filler3 = await rowByText(b.page, filler(3)).getAttribute('data-id');

    wsControl.blocked = true;
    for (const ws of wsControl.routes.splice(0)) await ws.close({ code: 4008, reason: 'lagged' });
    await b.page.locator('.connection', { hasText: /Reconnecting/ }).waitFor();
    wsControl.sent.length = 0;
    // While ben is away: an edit, a reaction, a deletion by the owner, a new message.
    const box = composer(a.page);
    await box.focus();
    await box.press('ArrowUp');
    const editor = a.page.getByRole('textbox', { name: 'Edit message' });
    await editor.fill('long press me, changed while ben was away');
    await editor.press('Enter');
    await editor.waitFor({ state: 'detached' });
    await act(rowById(a.page, filler2), 'Add reaction');
    await a.page.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: 'check mark' }).click();
    await until('ann’s ✅', async () => (await chipState(rowById(a.page, filler2), '✅')) === '1 true');
    await act(rowById(a.page, filler3), 'Delete message');
    await a.page.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click();
    await rowById(a.page, filler3).locator('.msg-tombstone').waitFor();
    await say(a.page, 'while you were away');
    assert.equal(await bodyText(rowById(b.page, pressId)), 'long press me', 'ben is really offline');

    wsControl.blocked = false;
    await t.reconnect(b.page);
    const joins = wsControl.sent.map((m) => JSON.parse(m)).filter((f) => f.type === 'join' && f.room === roomId);
    assert.equal(joins.length, 1, 'one join for the room');
    assert.equal(joins[0].after, expected, 'join resumes from the highest seq seen');
    await until('the missed edit', async () =>
      (await bodyText(rowById(b.page, pressId))) === 'long press me, changed while ben was away (edited)');
    await until('the missed reaction', async () => (await chipState(rowById(b.page, filler2), '✅')) === '1 false');
    await rowById(b.page, filler3).locator('.msg-tombstone').waitFor();
    await t.expectMessage(b.page, ANN, 'while you were away');
    await t.noDuplicateMessages(b.page);
    await shot(b.page, '60-replayed-after-reconnect');
  });

  await step('script in a body stays text; unsafe links lose their anchor', async () => {
    const vectors = [
      '<img src=x onerror=alert(1)>',
      '[x](javascript:alert(1))',
      '<script>alert(2)</script>',
      '[y](JaVaScRiPt:alert(3)) [z](data:text/html;base64,PHNjcmlwdD5hbGVydCg0KTwvc2NyaXB0Pg==) [v](vbscript:msgbox(5))',
      '<a href="javascript:alert(6)">anchor</a> <svg onload=alert(7)>',
      '![pic](https://example.com/pic.png) and <https://example.com/auto>',
    ];
    const ids = [];
    for (const v of vectors) ids.push(await sayAndGetId(a.page, v));
    const list = b.page.locator('.message-list');
    await rowById(b.page, ids.at(-1)).waitFor();
    assert.equal(await bodyText(rowById(b.page, ids[0])), '<img src=x onerror=alert(1)>', 'raw HTML shows as text');
    assert.equal(await bodyText(rowById(b.page, ids[1])), 'x', '[x](javascript:...) keeps its text');
    assert.equal(await rowById(b.page, ids[1]).locator('a').count(), 0, '[x](javascript:...) has no link');
    assert.equal(await bodyText(rowById(b.page, ids[2])), '<script>alert(2)</script>');
    assert.equal(await rowById(b.page, ids[3]).locator('.msg-body a').count(), 0, 'no javascript:, data: or vbscript: link');
    await b.page.waitForTimeout(300); // an onerror or onload would have fired by now
    const found = await b.page.evaluate(() => ({
      dangerous: document.querySelectorAll('.message-list :is(img, script, svg:not(.icon), iframe, object, embed)').length,
      handlers: [...document.querySelectorAll('.message-list *')].filter((el) =>
        [...el.attributes].some((attr) => attr.name.startsWith('on'))).length,
      links: [...document.querySelectorAll('.message-list .msg-body a')].map((l) => ({
        href: l.getAttribute('href'),
        target: l.getAttribute('target'),
        rel: l.getAttribute('rel'),
      })),
    }));
    assert.equal(found.dangerous, 0, 'no image, script, svg or frame element');
    assert.equal(found.handlers, 0, 'no element with an event handler attribute');
    assert.ok(found.links.length >= 2, `the image and the autolink are links: ${JSON.stringify(found.links)}`);
    for (const link of found.links) {
      assert.match(link.href, /^(https?:|mailto:)/, `link ${link.href} is http(s) or mailto`);
      assert.equal(link.target, '_blank');
      assert.ok(link.rel.split(/\s+/).includes('noopener') && link.rel.split(/\s+/).includes('noreferrer'), link.rel);
    }
    assert.ok(await list.getByRole('link', { name: 'pic' }).isVisible(), 'a Markdown image is shown as a link');
    assert.deepEqual(foreignRequests, [], 'no request left the page');
    await shot(b.page, '61-xss-inert');
  });

  await step('a 21st distinct emoji is refused with a toast', async () => {
    const target = await rowByText(b.page, filler(5)).getAttribute('data-id');
    const twenty = ['👍', '👎', '❤️', '😂', '🎉', '🙏', '👀', '✅', '🔥', '🚀', '😄', '🙂', '😊', '😉', '😅', '🤣', '😍', '😎', '🤔', '😮'];
    await b.page.evaluate(
      async ({ room, id, emoji }) => {
        for (const e of emoji) {
          const res = await fetch(`/api/rooms/${room}/messages/${id}/reactions/${encodeURIComponent(e)}`, { method: 'PUT' });
          if (!res.ok) throw new Error(`PUT reaction ${e}: ${res.status}`);
        }
      },
      { room: encodeURIComponent(roomId), id: target, emoji: twenty },
    );
    const row = rowById(b.page, target);
    await until('twenty chips', async () => (await row.locator('.reaction[data-emoji]').count()) === 20);
    await act(row, 'Add reaction');
    const picker = b.page.getByRole('dialog', { name: 'Add a reaction' });
    await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('pizza');
    await picker.getByRole('button', { name: 'pizza' }).click();
    await b.page.locator('.toast-error', { hasText: 'at most 20 different reactions' }).waitFor();
    assert.equal(await row.locator('.reaction[data-emoji]').count(), 20);
    await shot(b.page, '62-too-many-reactions');
  });

  await step('ben reloads and sees exactly the same state, which is the server’s', async () => {
    await until('ann’s last message at ben', () => rowByText(b.page, 'example.com/auto').count());
    const before = await viewState(b.page);
    await b.page.reload();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    await rowByText(b.page, 'example.com/auto').waitFor();
    await b.page.getByText(`Welcome to #${ROOM}`).waitFor();
    const after = await viewState(b.page);
    assert.deepEqual(after, before, 'the same messages, text, markers, reactions and quotes');
    const rest = await restMessages(b.page);
    assert.deepEqual(after.map((m) => m.id), rest.map((m) => m.id), 'the same messages as REST, in order');
    for (const [shown, m] of after.map((s, i) => [s, rest[i]])) {
      assert.equal(shown.deleted, m.deleted, `deleted ${m.id}`);
      // A tombstone shows no "(edited)", whatever happened before.
      assert.equal(shown.edited, m.deleted ? null : (m.edited_at ?? null), `edited_at ${m.id}`);
      assert.deepEqual(
        shown.reactions.map((r) => r.split(' ').slice(0, 2).join(' ')),
        m.reactions.map((r) => `${r.emoji} ${r.count}`),
        `reactions of ${m.id}`,
      );
    }
    const hello = after.find((m) => m.id === helloId);
    assert.ok(hello.deleted && hello.text === null && hello.reactions.length === 0, 'the tombstone');
    const reply = after.find((m) => m.id === replyId);
    assert.equal(reply.text, 'agreed, very nice');
    assert.deepEqual(reply.reactions, ['🎉 1 false']);
    assert.match(reply.quote, /a deleted message/);
    await t.noDuplicateMessages(b.page);
    await shot(b.page, '63-after-reload');
  });

  await step('every control has a name; dark mode', async () => {
    await t.assertControlsNamed(a.page, 'chat with reactions and replies');
    await a.page.emulateMedia({ colorScheme: 'dark' });
    await rowById(a.page, replyId).hover();
    await shot(a.page, '64-messages-dark');
    await a.page.emulateMedia({ colorScheme: 'light' });
  });

  await step('no dialogs, page errors or CSP violations happened', async () => {
    assert.deepEqual(t.problems, []);
  });

  await a.context.close();
  await b.context.close();
}
