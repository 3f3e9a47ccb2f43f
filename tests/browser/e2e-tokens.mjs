// The `tokens` scenario of e2e.mjs: personal access tokens and bots, through
// the settings page and from outside the browser.
//
// - dan (the first account, so an admin) opens "Access tokens" from the top
//   bar, creates a token with a name, scopes and an expiry; the secret is shown
//   once and copied to the clipboard.
// - the test uses that secret with fetch, as a script would: it reads and
//   posts through the API; the list then shows when the token was last used.
// - dan revokes it (with a confirmation); the same fetch is refused at once.
// - a bot made through the API posts in dan's room: its name carries a "bot"
//   badge in the message list and in the members panel.

import assert from 'node:assert/strict';

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function tokensScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const DAN = `dan_${run}`;
  const BOT = `deploy-bot-${run}`;
  const ROOM = `builds-${run}`;
  const TOKEN_NAME = `e2e script ${run}`;

  const d = await t.newUser(browser, 'dan');
  await d.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  let secret;
  let roomId;

  /** A request from outside the browser, authenticated with `token`. */
  const api = async (method, path, token, body) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  await step('dan signs up and creates a room', async () => {
    await d.page.goto(`${baseUrl}/#/signup`);
    await d.page.getByLabel('Username').fill(DAN);
    await d.page.getByLabel('Password').fill(t.PASSWORD);
    await d.page.getByRole('button', { name: 'Sign up' }).click();
    await d.page.getByRole('heading', { name: `Hi ${DAN}` }).waitFor();
    await d.page.getByLabel('Join a room by name').fill(ROOM);
    await d.page.getByRole('button', { name: 'Join', exact: true }).click();
    await d.page.getByRole('button', { name: `Create “${ROOM}”` }).click();
    await d.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    roomId = decodeURIComponent(/#\/room\/([^/?#]+)$/.exec(d.page.url())[1]);
  });

  await step('the access tokens page opens from the top bar, every control named', async () => {
    await d.page.getByRole('link', { name: 'Access tokens' }).click();
    await d.page.getByRole('heading', { name: 'Access tokens', level: 1 }).waitFor();
    await d.page.getByText('No tokens yet').waitFor();
    // dan is the server's admin, so the admin scope is offered too.
    for (const scope of ['read', 'write', 'admin']) {
      await d.page.getByRole('checkbox', { name: new RegExp(`^${scope}`) }).waitFor();
    }
    assert.ok(await d.page.getByRole('checkbox', { name: /^read/ }).isChecked(), 'read is checked by default');
    await t.assertControlsNamed(d.page, 'access tokens');
  });

  await step('a token without a name or scope is refused in the form', async () => {
    await d.page.getByRole('button', { name: 'Create token' }).click();
    await d.page.getByRole('alert').filter({ hasText: 'Give the token a name' }).waitFor();
    await d.page.getByLabel('Name', { exact: true }).fill(TOKEN_NAME);
    await d.page.getByRole('checkbox', { name: /^read/ }).uncheck();
    await d.page.getByRole('button', { name: 'Create token' }).click();
    await d.page.getByRole('alert').filter({ hasText: 'Choose at least one scope' }).waitFor();
  });

  await step('dan creates a read and write token; its secret is shown once and copied', async () => {
    await d.page.getByRole('checkbox', { name: /^read/ }).check();
    await d.page.getByRole('checkbox', { name: /^write/ }).check();
    await d.page.getByLabel('Expires', { exact: true }).selectOption({ label: 'In 7 days' });
    await d.page.getByRole('button', { name: 'Create token' }).click();
    const field = d.page.getByRole('textbox', { name: 'New token' });
    await until('the secret to show', async () => (await field.inputValue()).startsWith('cfb_'));
    secret = await field.inputValue();
    assert.equal(secret.length, 47, 'cfb_ and 43 characters');
    await d.page.getByText('Created and copied.').waitFor();
    assert.equal(await d.page.evaluate(() => navigator.clipboard.readText()), secret, 'on the clipboard');
    const item = d.page.locator('.token-item', { hasText: TOKEN_NAME });
    await item.waitFor();
    assert.match(await item.innerText(), /never used/);
    assert.match(await item.innerText(), /expires in 7 days/);
    assert.deepEqual(await item.locator('.tag').allInnerTexts(), ['read', 'write'].map((s) => s.toUpperCase()));
    await shot(d.page, '60-token-created');
  });

  await step('a script uses the token through the API', async () => {
    const me = await api('GET', '/api/auth/me', secret);
    assert.equal(me.status, 200);
    assert.equal(me.body.user.username, DAN);
    assert.deepEqual(me.body.scopes, ['read', 'write']);
    const posted = await api('POST', `/api/rooms/${roomId}/messages`, secret, { body: 'posted by a script' });
    assert.equal(posted.status, 201, JSON.stringify(posted.body));
    // Leaving the page and coming back shows when it was used.
    await d.page.getByRole('link', { name: 'confab home' }).click();
    await d.page.getByRole('heading', { name: `Hi ${DAN}` }).waitFor();
    await d.page.getByRole('link', { name: 'Access tokens' }).click();
    const item = d.page.locator('.token-item', { hasText: TOKEN_NAME });
    await until('last used to show', async () => /last used just now/.test(await item.innerText()));
  });

  await step('dan revokes it after confirming; the script is refused at once', async () => {
    await d.page.getByRole('button', { name: `Revoke ${TOKEN_NAME}` }).click();
    const confirm = d.page.getByRole('dialog', { name: `Revoke “${TOKEN_NAME}”?` });
    await confirm.waitFor();
    await shot(d.page, '61-token-revoke-confirm');
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await d.page.getByText(`Token “${TOKEN_NAME}” revoked.`).waitFor();
    await d.page.getByText('No tokens yet').waitFor();
    const refused = await api('GET', '/api/auth/me', secret);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'unauthorized');
  });

  await step('a bot posts in the room and is marked as a bot', async () => {
    const created = await d.page.evaluate(async (username) => {
      const res = await fetch('/api/bots', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username }),
      });
      return res.status;
    }, BOT);
    assert.equal(created, 201);
    const issued = await d.page.evaluate(async (username) => {
      const res = await fetch(`/api/bots/${username}/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'ci', scopes: ['read', 'write'] }),
      });
      return res.json();
    }, BOT);
    const botToken = issued.secret;
    assert.equal((await api('POST', `/api/rooms/${roomId}/join`, botToken)).status, 200);
    await d.page.goto(`${baseUrl}/#/room/${encodeURIComponent(roomId)}`);
    await d.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    const said = await api('POST', `/api/rooms/${roomId}/messages`, botToken, { body: 'build 42 passed' });
    assert.equal(said.status, 201);
    const group = d.page
      .locator('.message-list .msg-group')
      .filter({ has: d.page.locator('.msg-body').filter({ hasText: 'build 42 passed' }) });
    await group.waitFor();
    await group.locator('.msg-head .tag-bot').waitFor();
    assert.equal((await group.locator('.msg-author').textContent()).trim(), BOT);
    // The script's message was dan's own: no badge there.
    const own = d.page
      .locator('.message-list .msg-group')
      .filter({ has: d.page.locator('.msg-body').filter({ hasText: 'posted by a script' }) });
    assert.equal(await own.locator('.tag-bot').count(), 0);
    const members = d.page.getByRole('complementary', { name: 'Members' });
    if (await members.isVisible()) {
      await members.locator('.member', { hasText: BOT }).locator('.tag-bot').waitFor();
    }
    await shot(d.page, '62-bot-badge');
  });

  await step('no dialogs, page errors or CSP violations happened', async () => {
    assert.deepEqual(t.problems, []);
  });
  await d.context.close();
}
