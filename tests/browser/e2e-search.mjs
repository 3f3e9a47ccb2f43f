// The `search` scenario of e2e.mjs: full-text search in the top bar, used by
// ann (in a public and a private room) and bob (in the public room only).
//
// - `/` (away from any text field) and Ctrl+K go to the search field; in the
//   composer `/` stays text.
// - a word finds ann's messages in both rooms, newest first, each hit with
//   its room, author and time, the match highlighted by a real `<mark>`
//   element and nothing else in the snippet; markup in a message is shown as
//   text in its hit.
// - a "quoted phrase" matches only that word order.
// - `from:bob` shows as a chip and narrows the hits to bob's; removing the
//   chip takes the term out of the field and widens them again. The open
//   room is offered as a chip too, and limits the hits to it.
// - more hits than a page: "Load more" fetches the next one with the
//   server's cursor, and goes away after the last.
// - an unclosed quote shows the server's own message next to the field; a
//   reindexing server (503, simulated) shows that search is being rebuilt,
//   and "Try again" searches again; an answer cut short by the server's time
//   budget (simulated) says so.
// - naming an end-to-end encrypted room says that server search does not
//   cover it.
// - the keyboard: Down from the field goes through the hits, Escape closes
//   the results and gives the field the focus back.
// - clicking an old hit (over a hundred messages ago) opens its room with the
//   message on screen and flashing, fetched with `?around=`; the jump button
//   goes back to the newest messages.
// - bob never sees the private room's message, however he searches.
// Search is eventually consistent (a message is searchable about 1 s after it
// is sent), so every search that expects hits is asked again until they come.

import assert from 'node:assert/strict';

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function searchScenario(browser, t) {
  const { run, step, until, shot, signUp, rest } = t;
  const ANN = `ann_${run}`;
  const BOB = `bob_${run}`;
  const PLANS = `plans-${run}`;
  const SECRET = `secret-${run}`;
  const VAULT = `vault-${run}`;
  const FILLERS = 100;
  const PAGE = 20;
  const PELICANS = 25;
  const MARKUP = 'kestrel sighting <img src=x onerror=alert(1)> & <b>bold</b> claims';

  const a = await t.newUser(browser, 'ann');
  const b = await t.newUser(browser, 'bob');
  let plansId;
  let secretId;
  /** The ids of the messages searched for, by name. */
  const ids = {};

  const field = (page) => page.getByRole('searchbox', { name: 'Search messages' });
  const panel = (page) => page.locator('#search-panel');
  const hits = (page) => panel(page).locator('a.search-hit');
  const hitFor = (page, room, message) =>
    panel(page).locator(`a.search-hit[data-room="${room}"][data-message="${message}"]`);
  const composer = (page) => page.getByRole('textbox', { name: `Message #${PLANS}` });
  const post = async (page, room, body) =>
    (await rest(page, 'POST', `/api/rooms/${encodeURIComponent(room)}/messages`, { body })).id;

  /** Enters `q` in the field and waits for the answer shown (hits, an empty state, or an error). */
  const searchOnce = async (page, q) => {
    await field(page).fill(q);
    await field(page).press('Enter');
    await panel(page).and(page.locator('[aria-busy="false"]')).waitFor();
  };
  /**
   * Searches until `count` hits are shown (search is eventually consistent); returns their ids.
   * A miss waits a little before asking again: the server allows 2 searches a second after a
   * burst of 20 (`search.per_minute`), and the index takes about a second to catch up anyway.
   */
  const searchFor = async (page, q, count) => {
    await until(`“${q}” to find ${count} hits`, async () => {
      await searchOnce(page, q);
      if ((await hits(page).count()) === count) return true;
      await page.waitForTimeout(500);
      return false;
    });
    return hits(page).evaluateAll((links) => links.map((link) => link.dataset.message));
  };
  /** What the server answers a search from this page (status and body), without the UI. */
  const apiSearch = (page, q) =>
    page.evaluate(async (q) => {
      const res = await fetch(`/api/search?${new URLSearchParams({ q })}`);
      return { status: res.status, body: await res.json() };
    }, q);
  const onScreen = (locator) =>
    locator.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const s = el.closest('.messages').getBoundingClientRect();
      return r.height > 0 && r.top >= s.top - 1 && r.bottom <= s.bottom + 1;
    });

  await step('ann and bob sign up; ann’s public and private rooms get their messages', async () => {
    await signUp(a.page, ANN);
    await signUp(b.page, BOB);
    plansId = (await rest(a.page, 'POST', '/api/rooms', { name: PLANS })).id;
    secretId = (await rest(a.page, 'POST', '/api/rooms', { name: SECRET, kind: 'private' })).id;
    await rest(a.page, 'POST', '/api/rooms', { name: VAULT, kind: 'private', encrypted: true });
    ids.report = await post(a.page, plansId, 'The quarterly zebrafinch report is ready for review');
    ids.bobs = await post(b.page, plansId, 'I read the zebrafinch report twice, looks fine');
    ids.reversed = await post(a.page, plansId, 'Which report? The zebrafinch one');
    ids.secret = await post(a.page, secretId, 'Secret zebrafinch budget numbers, do not share');
    ids.markup = await post(a.page, plansId, MARKUP);
    await a.page.evaluate(
      async ({ room, fillers, pelicans }) => {
        const send = async (body) => {
          const res = await fetch(`/api/rooms/${encodeURIComponent(room)}/messages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ body }),
          });
          if (res.status !== 201) throw new Error(`POST message: ${res.status} ${await res.text()}`);
        };
        for (let i = 1; i <= pelicans; i += 1) await send(`pelican count ${i}`);
        for (let i = 1; i <= fillers; i += 1) await send(`filler line ${i} of ${fillers}`);
      },
      { room: plansId, fillers: FILLERS, pelicans: PELICANS },
    );
    await a.page.reload();
    await a.page.getByRole('heading', { name: `Hi ${ANN}` }).waitFor();
  });

  await step('`/` and Ctrl+K go to the search field; in the composer `/` is text', async () => {
    await field(a.page).waitFor();
    await a.page.getByRole('heading', { name: `Hi ${ANN}` }).click();
    await a.page.keyboard.press('/');
    await until('the search field to have the focus', () => field(a.page).evaluate((el) => el === document.activeElement));
    assert.equal(await field(a.page).inputValue(), '', 'the `/` was not typed into the field');

    await a.page.goto(`${t.baseUrl}/#/room/${encodeURIComponent(plansId)}`);
    await a.page.getByRole('heading', { name: PLANS, level: 1 }).waitFor();
    await composer(a.page).click();
    await a.page.keyboard.type('a/b');
    assert.equal(await composer(a.page).inputValue(), 'a/b', '`/` in the composer is text');
    await a.page.keyboard.press('Control+K');
    await until('Ctrl+K to focus the search field', () => field(a.page).evaluate((el) => el === document.activeElement));
    await composer(a.page).fill('');
  });

  await step('a word finds ann’s messages in both rooms, newest first, the match marked', async () => {
    const found = await searchFor(a.page, 'zebrafinch', 4);
    assert.deepEqual(new Set(found), new Set([ids.report, ids.bobs, ids.reversed, ids.secret]));
    await hitFor(a.page, secretId, ids.secret).waitFor();
    const times = await hits(a.page).locator('time').evaluateAll((els) => els.map((el) => Date.parse(el.dateTime)));
    assert.deepEqual(times, [...times].sort((x, y) => y - x), 'newest first');

    const bobs = hitFor(a.page, plansId, ids.bobs);
    assert.equal(await bobs.locator('.search-hit-room').innerText(), PLANS, 'the hit names its room');
    assert.equal(await bobs.locator('.search-hit-author').innerText(), BOB, 'and its author');
    assert.match(await bobs.locator('time').innerText(), /^(Today|Yesterday) at \d{1,2}:\d{2}/, 'and its time');
    assert.equal(await hitFor(a.page, secretId, ids.secret).locator('.search-hit-room').innerText(), SECRET);

    const marks = hits(a.page).locator('.search-hit-snippet mark');
    assert.ok((await marks.count()) >= 4, 'every hit has a <mark>');
    assert.ok(await marks.first().isVisible(), 'the highlight is visible');
    for (const text of await marks.allInnerTexts()) assert.match(text, /^zebrafinch$/i);
    const other = await hits(a.page).locator('.search-hit-snippet *:not(mark)').count();
    assert.equal(other, 0, 'a snippet holds text and <mark> elements only');
    assert.equal(await panel(a.page).locator('.search-status').innerText(), '4 results');
    await shot(a.page, '90-search-results');
    await t.assertControlsNamed(a.page, 'search results');
  });

  await step('markup in a message shows as text in its hit', async () => {
    await searchFor(a.page, 'kestrel', 1);
    const hit = hitFor(a.page, plansId, ids.markup);
    const snippet = await hit.locator('.search-hit-snippet').innerText();
    assert.ok(snippet.includes('<img src=x onerror=alert(1)> & <b>bold</b>'), `the markup is text: ${snippet}`);
    assert.equal(await hit.locator('img, b').count(), 0, 'no element made from the message');
    assert.equal(await hit.locator('mark').innerText(), 'kestrel');
  });

  await step('a quoted phrase matches only that word order', async () => {
    const found = await searchFor(a.page, '"zebrafinch report"', 2);
    assert.deepEqual(new Set(found), new Set([ids.report, ids.bobs]), '“report? The zebrafinch” is not the phrase');
    assert.ok((await hits(a.page).locator('mark').count()) >= 2);
  });

  await step('a from: chip narrows to bob’s message; removing it widens the search again', async () => {
    const found = await searchFor(a.page, `zebrafinch from:${BOB}`, 1);
    assert.deepEqual(found, [ids.bobs]);
    const chip = panel(a.page).locator('.search-chip', { hasText: BOB });
    await chip.waitFor();
    assert.equal((await chip.innerText()).replace(/\s+/g, ''), `from:${BOB}`);
    await shot(a.page, '91-search-from-chip');
    await a.page.getByRole('button', { name: `Remove filter from:${BOB}` }).click();
    assert.equal(await field(a.page).inputValue(), 'zebrafinch', 'the term left the field');
    await until('the search to widen to 4 hits', async () => (await hits(a.page).count()) === 4);
    assert.equal(await chip.count(), 0, 'the chip is gone');
  });

  await step('the open room is offered as a chip and limits the hits to it', async () => {
    await searchFor(a.page, 'zebrafinch', 4);
    await panel(a.page).getByRole('button', { name: `In #${PLANS}` }).click();
    await until('only the public room’s hits', async () => (await hits(a.page).count()) === 3);
    assert.equal(await panel(a.page).locator(`a.search-hit[data-room="${secretId}"]`).count(), 0);
    await a.page.getByRole('button', { name: `Remove filter in #${PLANS}` }).click();
    await until('all 4 hits again', async () => (await hits(a.page).count()) === 4);
  });

  await step('“Load more” follows the server’s cursor to the last page', async () => {
    await searchFor(a.page, 'pelican', PAGE);
    const more = panel(a.page).getByRole('button', { name: 'Load more results' });
    await more.waitFor();
    await more.click();
    await until(`all ${PELICANS} hits`, async () => (await hits(a.page).count()) === PELICANS);
    assert.equal(await more.isVisible(), false, 'no “Load more” after the last page');
    const found = await hits(a.page).evaluateAll((links) => links.map((link) => link.dataset.message));
    assert.equal(new Set(found).size, PELICANS, 'no hit shown twice');
  });

  await step('an unclosed quote shows the server’s message next to the field', async () => {
    const answer = await apiSearch(a.page, '"abc');
    assert.equal(answer.status, 400, 'the server refuses an unclosed quote');
    assert.equal(answer.body.error?.code, 'invalid_query');
    await searchOnce(a.page, '"abc');
    const error = panel(a.page).locator('.search-error');
    await error.waitFor();
    assert.equal(await error.innerText(), answer.body.error.message, 'the server’s own words');
    assert.equal(await field(a.page).getAttribute('aria-invalid'), 'true');
    assert.match(await field(a.page).getAttribute('aria-describedby'), /\bsearch-panel-error\b/);
    await shot(a.page, '92-search-invalid-query');
    await searchOnce(a.page, 'zebrafinch');
    assert.equal(await error.isVisible(), false, 'a good query clears the error');
    assert.equal(await field(a.page).getAttribute('aria-invalid'), null);
  });

  await step('a reindexing server says search is being rebuilt; “Try again” searches again', async () => {
    const reindexing = (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'reindexing', message: 'the search index is being rebuilt' } }),
      });
    await a.page.route(/\/api\/search\?/, reindexing);
    await searchOnce(a.page, 'zebrafinch');
    await panel(a.page).getByText('Search is being rebuilt, try again in a moment').waitFor();
    assert.equal(await hits(a.page).count(), 0);
    await a.page.unroute(/\/api\/search\?/, reindexing);
    await panel(a.page).getByRole('button', { name: 'Try again' }).click();
    await until('the hits to come back', async () => (await hits(a.page).count()) === 4);
    const note = panel(a.page).getByText('The search stopped early');
    assert.equal(await note.count(), 0, 'no note on a whole answer');

    const truncated = async (route) => {
      const response = await route.fetch();
      route.fulfill({ response, json: { ...(await response.json()), truncated: true } });
    };
    await a.page.route(/\/api\/search\?/, truncated);
    await searchOnce(a.page, 'zebrafinch');
    await note.waitFor();
    assert.equal(await hits(a.page).count(), 4, 'the hits found in time are shown');
    await a.page.unroute(/\/api\/search\?/, truncated);
    await searchOnce(a.page, 'zebrafinch');
    assert.equal(await note.count(), 0, 'the note goes with the next whole answer');
  });

  await step('naming an end-to-end encrypted room says server search does not cover it', async () => {
    const note = panel(a.page).locator('.search-note-e2e');
    assert.equal(await note.count(), 0, 'no note while no encrypted room is concerned');
    await searchOnce(a.page, `zebrafinch in:${VAULT}`);
    await note.waitFor();
    assert.equal(
      await note.innerText(),
      `Server search does not cover end-to-end encrypted rooms: messages in #${VAULT} are not searched.`,
    );
    await panel(a.page).locator('.search-chip', { hasText: VAULT }).waitFor();
    await shot(a.page, '95-search-encrypted-room');
    await a.page.getByRole('button', { name: `Remove filter in:${VAULT}` }).click();
    await until('the note to go', async () => (await note.count()) === 0);
    await until('all 4 hits again', async () => (await hits(a.page).count()) === 4);
  });

  await step('the keyboard moves through the hits; Escape closes them and returns to the field', async () => {
    await field(a.page).focus();
    await a.page.keyboard.press('ArrowDown');
    const focused = () => a.page.evaluate(() => document.activeElement?.dataset?.message ?? document.activeElement?.id);
    const order = await hits(a.page).evaluateAll((links) => links.map((link) => link.dataset.message));
    assert.equal(await focused(), order[0], 'Down goes to the first hit');
    await a.page.keyboard.press('ArrowDown');
    assert.equal(await focused(), order[1], 'and on to the next');
    await a.page.keyboard.press('ArrowUp');
    await a.page.keyboard.press('ArrowUp');
    assert.equal(await focused(), 'search-input', 'Up from the first hit goes back to the field');
    await a.page.keyboard.press('Escape');
    await panel(a.page).waitFor({ state: 'hidden' });
    assert.equal(await focused(), 'search-input');
    assert.equal(await field(a.page).getAttribute('aria-expanded'), 'false');
    assert.equal(await field(a.page).inputValue(), 'zebrafinch', 'Escape keeps the query');
  });

  await step('clicking an old hit opens its room at the message, on screen and flashing', async () => {
    const around = [];
    a.page.on('request', (request) => {
      if (request.url().includes('around=')) around.push(new URL(request.url()).searchParams.get('around'));
    });
    await a.page.getByRole('link', { name: 'confab home' }).click();
    await a.page.getByRole('heading', { name: `Hi ${ANN}` }).waitFor();
    await searchFor(a.page, 'quarterly', 1);
    await hitFor(a.page, plansId, ids.report).click();
    await a.page.getByRole('heading', { name: PLANS, level: 1 }).waitFor();
    assert.equal(
      new URL(a.page.url()).hash,
      `#/room/${encodeURIComponent(plansId)}/message/${encodeURIComponent(ids.report)}`,
    );
    await panel(a.page).waitFor({ state: 'hidden' });
    const row = a.page.locator(`.message-list .msg[data-id="${ids.report}"]`);
    await row.waitFor();
    await until('the message to be on screen, flashing', async () =>
      (await onScreen(row)) && /\bmsg-flash\b/.test(await row.getAttribute('class')),
    );
    assert.ok(around.includes(ids.report), `the page around the message was fetched (${around})`);
    assert.equal(
      await a.page.locator('.message-list .msg-body', { hasText: `filler line ${FILLERS} of ${FILLERS}` }).count(),
      0,
      'the newest messages are not loaded around an old one',
    );
    await shot(a.page, '93-search-hit-opened');
    await t.noDuplicateMessages(a.page);

    await a.page.getByRole('button', { name: 'Jump to new messages' }).click();
    const newest = a.page.locator('.message-list .msg', { hasText: `filler line ${FILLERS} of ${FILLERS}` });
    await newest.waitFor();
    await until('the newest message to be on screen', () => onScreen(newest));
    await t.noDuplicateMessages(a.page);
  });

  await step('bob, not in the private room, never sees its message', async () => {
    await b.page.goto(`${t.baseUrl}/#/room/${encodeURIComponent(plansId)}`);
    await b.page.getByRole('heading', { name: PLANS, level: 1 }).waitFor();
    const found = await searchFor(b.page, 'zebrafinch', 3);
    assert.deepEqual(new Set(found), new Set([ids.report, ids.bobs, ids.reversed]));
    assert.equal(await panel(b.page).locator(`a.search-hit[data-room="${secretId}"]`).count(), 0);
    await searchOnce(b.page, 'budget');
    await panel(b.page).getByText('No messages match “budget”.').waitFor();
    const answer = await apiSearch(b.page, 'budget');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.hits, [], 'the server gives bob nothing from the private room');
    await shot(b.page, '94-search-empty');
  });

  await step('no dialogs, page errors or CSP violations happened', async () => {
    assert.deepEqual(t.problems, []);
  });

  await a.context.close();
  await b.context.close();
}
