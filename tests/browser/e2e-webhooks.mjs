// The `webhooks` scenario of e2e.mjs: a room's webhooks, through the panel in
// the chat header and from outside the browser. The server runs with
// integrations.allowed_networks = ["127.0.0.1/32"], so an outgoing webhook may
// call a receiver on this machine.
//
// - erin creates a room and opens "Webhooks" from its header: both lists are
//   empty and every control is named.
// - an incoming webhook is created; its URL is shown once, copied with the copy
//   button, and used with fetch as a CI job would: "Build passed" appears in
//   the room under the webhook's name with the bot badge, saying who added it.
// - an outgoing webhook to a small Node receiver with the trigger word !ping:
//   its signing secret is shown once. A message without the trigger word is not
//   sent; "!ping" is, with a signature the test verifies with that secret, and
//   the receiver's answer "pong" appears in the room. Its delivery shows as
//   delivered in "Recent deliveries".
// - an internal URL (10.0.0.1) is refused with the server's forbidden_url,
//   shown next to the form.
// - both webhooks are deleted after a confirmation; the lists are empty and the
//   incoming URL no longer posts.

import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

/** A receiver for outgoing webhook calls on 127.0.0.1: it records each request and answers "pong". */
async function startReceiver() {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, raw: Buffer.concat(chunks) });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ text: 'pong' }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    requests,
    url: `http://127.0.0.1:${server.address().port}/confab-hook`,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections(); // the server's HTTP client may keep one alive
      }),
  };
}

/** Checks an outgoing call's signature headers against `secret`, as a receiver should. */
function verifySignature(request, secret) {
  const signature = request.headers['x-confab-signature'];
  const timestamp = request.headers['x-confab-timestamp'];
  const delivery = request.headers['x-confab-delivery'];
  assert.match(signature ?? '', /^sha256=[0-9a-f]{64}$/, 'x-confab-signature is sha256=<hex>');
  assert.match(timestamp ?? '', /^\d+$/, 'x-confab-timestamp is a number');
  assert.ok(delivery, 'x-confab-delivery names the delivery');
  const expected = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), request.raw]))
    .digest();
  const given = Buffer.from(signature.slice('sha256='.length), 'hex');
  assert.ok(
    given.length === expected.length && timingSafeEqual(given, expected),
    'the signature is HMAC-SHA256(secret, timestamp + "." + raw body)',
  );
  // Seconds (or milliseconds) since the epoch, close to now: a receiver refuses old replays.
  const ts = Number(timestamp);
  const seconds = ts > 1e12 ? ts / 1000 : ts;
  assert.ok(Math.abs(Date.now() / 1000 - seconds) < 300, `x-confab-timestamp ${timestamp} is recent`);
  return { delivery, timestamp };
}

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function webhooksScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const ERIN = `erin_${run}`;
  const ROOM = `deploys-${run}`;
  const HOOK = `CI builds ${run}`;

  const e = await t.newUser(browser, 'erin');
  const page = e.page;
  await e.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  const receiver = await startReceiver();
  const panel = page.getByRole('dialog', { name: `Webhooks of #${ROOM}` });
  const incomingList = panel.getByRole('list', { name: 'Incoming webhooks' });
  const outgoingList = panel.getByRole('list', { name: 'Outgoing webhooks' });
  const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
  const openPanel = async () => {
    await page.getByRole('button', { name: 'Webhooks', exact: true }).click();
    await panel.waitFor();
  };
  const closePanel = async () => {
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
  };
  const groupOf = (text) =>
    page.locator('.message-list .msg-group').filter({ has: page.locator('.msg-body').filter({ hasText: text }) });
  const send = async (text) => {
    const box = page.getByRole('textbox', { name: `Message #${ROOM}` });
    await box.fill(text);
    await box.press('Enter');
    await until('the composer to clear', async () => (await box.inputValue()) === '');
    await page.locator('.message-list .msg-body').filter({ hasText: text }).waitFor();
  };
  let hookUrl;
  let secret;
  let deliveryId;

  try {
    await step('erin signs up and creates a room', async () => {
      await page.goto(`${baseUrl}/#/signup`);
      await page.getByLabel('Username').fill(ERIN);
      await page.getByLabel('Password').fill(t.PASSWORD);
      await page.getByRole('button', { name: 'Sign up' }).click();
      await page.getByRole('heading', { name: `Hi ${ERIN}` }).waitFor();
      await page.getByLabel('Join a room by name').fill(ROOM);
      await page.getByRole('button', { name: 'Join', exact: true }).click();
      await page.getByRole('button', { name: `Create “${ROOM}”` }).click();
      await page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    });

    await step('the webhooks panel opens from the room header, empty, every control named', async () => {
      await openPanel();
      await incomingList.getByText('No incoming webhooks').waitFor();
      await outgoingList.getByText('No outgoing webhooks').waitFor();
      assert.equal(
        await page.evaluate(() => document.activeElement?.id),
        'wh-in-name',
        'the name of a new incoming webhook has the focus',
      );
      await t.assertControlsNamed(page, 'webhooks');
      await panel.getByRole('button', { name: 'Create incoming webhook' }).click();
      await panel.getByRole('alert').filter({ hasText: 'Give the webhook a name' }).waitFor();
      await shot(page, '70-webhooks-empty');
      // Escape closes it and gives the focus back to the header button.
      await closePanel();
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Webhooks');
      await openPanel();
    });

    await step('an incoming webhook is created; its URL is shown once and copied', async () => {
      await panel.getByLabel('Name', { exact: true }).fill(HOOK);
      await panel.getByRole('button', { name: 'Create incoming webhook' }).click();
      const field = panel.getByRole('textbox', { name: 'Webhook URL' });
      await until('the URL to show', async () => (await field.inputValue()).length > 0);
      const created = panel.getByRole('region', { name: 'Webhook URL' });
      assert.match(await created.innerText(), /shown only now/);
      assert.match(await created.innerText(), /Anyone with this URL can post into this room/);
      await panel.getByRole('button', { name: 'Copy URL' }).click();
      await created.getByText('Copied.').waitFor();
      hookUrl = await clipboard();
      assert.equal(hookUrl, await field.inputValue(), 'the copy button copies the URL shown');
      assert.ok(hookUrl.startsWith(`${baseUrl}/api/hooks/`), `an absolute hook URL on this server: ${hookUrl}`);
      const example = await created.locator('pre').innerText();
      assert.ok(example.includes(`-d '{"text":"Build passed"}'`), `curl example: ${example}`);
      assert.ok(example.includes(hookUrl), 'the curl example posts to the URL');
      const item = incomingList.locator('.webhook-item', { hasText: HOOK });
      await item.waitFor();
      assert.match(await item.innerText(), new RegExp(`added by ${ERIN}`));
      assert.match(await item.innerText(), /never used/);
      await shot(page, '71-incoming-webhook-created');
    });

    await step('a script posts through the URL; the message shows the webhook as its author, with the bot badge', async () => {
      const res = await fetch(hookUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: 'Build passed' }),
      });
      const answer = await res.json();
      assert.equal(res.status, 200, JSON.stringify(answer));
      assert.equal(answer.ok, true);
      assert.equal(answer.message.body, 'Build passed');
      assert.equal(answer.message.webhook?.name, HOOK, 'the message names its webhook');
      await closePanel();
      const group = groupOf('Build passed');
      await group.waitFor();
      const author = group.locator('.msg-author');
      assert.equal((await author.textContent()).trim(), HOOK, 'shown under the webhook name');
      assert.equal(await author.getAttribute('title'), `via webhook, added by ${ERIN}`);
      await group.locator('.msg-head .tag-bot').waitFor();
      assert.equal(await group.locator('.msg-head .tag-bot').getAttribute('title'), `via webhook, added by ${ERIN}`);
      await shot(page, '72-webhook-message');
      // The list now says it was used.
      await openPanel();
      const item = incomingList.locator('.webhook-item', { hasText: HOOK });
      await until('last used to show', async () => /last used (just now|1 minute ago)/.test(await item.innerText()));
    });

    await step('an outgoing webhook with a trigger word is created; its secret is shown once', async () => {
      await panel.getByLabel('URL', { exact: true }).fill(receiver.url);
      await panel.getByLabel('Trigger words', { exact: true }).fill('!ping');
      await panel.getByRole('button', { name: 'Create outgoing webhook' }).click();
      const field = panel.getByRole('textbox', { name: 'Signing secret' });
      await until('the secret to show', async () => (await field.inputValue()).length > 0);
      const created = panel.getByRole('region', { name: 'Signing secret' });
      assert.match(await created.innerText(), /shown only now/);
      await panel.getByRole('button', { name: 'Copy secret' }).click();
      await created.getByText('Copied.').waitFor();
      secret = await clipboard();
      assert.equal(secret, await field.inputValue());
      const item = outgoingList.locator('.webhook-item', { hasText: receiver.url });
      await item.waitFor();
      const text = await item.innerText();
      assert.match(text, /!ping/);
      assert.match(text, new RegExp(`added by ${ERIN}`));
      assert.deepEqual(await item.locator('.webhook-tags .tag').allInnerTexts(), ['MESSAGE']);
      await shot(page, '73-outgoing-webhook-created');
    });

    await step('"!ping" is sent to the receiver, signed with the secret; its "pong" appears in the room', async () => {
      await closePanel();
      await send(`no trigger here ${run}`);
      await send('!ping');
      await until('the receiver to get a call', async () => receiver.requests.length > 0);
      await groupOf('pong').waitFor();
      assert.equal(receiver.requests.length, 1, 'only the message with the trigger word was sent');
      const [call] = receiver.requests;
      assert.equal(call.method, 'POST');
      assert.equal(call.url, '/confab-hook');
      assert.match(call.headers['content-type'] ?? '', /^application\/json/);
      const { delivery } = verifySignature(call, secret);
      deliveryId = delivery;
      const payload = JSON.parse(call.raw.toString('utf8'));
      assert.ok(call.raw.toString('utf8').includes('!ping'), `the payload carries the message: ${JSON.stringify(payload)}`);
      assert.ok(!call.raw.toString('utf8').includes('no trigger here'));
      console.log(`     delivery ${delivery}: ${JSON.stringify(payload).slice(0, 300)}`);
      const pong = groupOf('pong');
      console.log(`     "pong" shown under ${JSON.stringify((await pong.locator('.msg-author').textContent()).trim())}`);
      await shot(page, '74-outgoing-pong');
    });

    await step('recent deliveries show the call as delivered', async () => {
      await openPanel();
      const item = outgoingList.locator('.webhook-item', { hasText: receiver.url });
      const toggle = item.getByRole('button', { name: `Recent deliveries to ${receiver.url}` });
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
      const table = item.getByRole('table');
      const row = table.locator('tbody tr').first();
      await until('the delivery to show as delivered', async () => (await row.getAttribute('data-status')) === 'delivered');
      assert.equal(await table.locator('tbody tr').count(), 1, 'one delivery');
      assert.equal(await row.getAttribute('data-id'), deliveryId, 'the one the receiver got (X-Confab-Delivery)');
      const cells = await row.locator('td').allInnerTexts();
      assert.equal(cells[0].trim().toLowerCase(), 'delivered');
      assert.equal(cells[2].trim(), '1', 'one attempt');
      assert.match(cells[3], /HTTP 200/);
      await table.scrollIntoViewIfNeeded();
      await shot(page, '75-recent-deliveries');
    });

    await step('an internal URL is refused with the server error next to the form', async () => {
      const url = panel.getByLabel('URL', { exact: true });
      await url.fill('http://10.0.0.1/x');
      await panel.getByLabel('Trigger words', { exact: true }).fill('');
      await panel.getByRole('button', { name: 'Create outgoing webhook' }).click();
      const error = panel.locator('#wh-out-error');
      await until('the error to show', async () => (await error.getAttribute('data-code')) === 'forbidden_url');
      assert.equal(await error.getAttribute('role'), 'alert');
      assert.match(await error.innerText(), /points inside the network/);
      assert.equal(await url.getAttribute('aria-invalid'), 'true');
      assert.equal(await outgoingList.locator('.webhook-item').count(), 1, 'nothing was created');
      await shot(page, '76-forbidden-url');
    });

    await step('both webhooks are deleted after confirming; the lists are empty and the URL is dead', async () => {
      await incomingList.getByRole('button', { name: `Delete ${HOOK}` }).click();
      const confirmIn = page.getByRole('dialog', { name: `Delete “${HOOK}”?` });
      await confirmIn.waitFor();
      await shot(page, '77-delete-confirm');
      await confirmIn.getByRole('button', { name: 'Delete' }).click();
      await incomingList.getByText('No incoming webhooks').waitFor();
      await panel.getByText(`Webhook “${HOOK}” deleted.`).waitFor();

      await outgoingList.getByRole('button', { name: `Delete webhook to ${receiver.url}` }).click();
      const confirmOut = page.getByRole('dialog', { name: 'Delete this outgoing webhook?' });
      await confirmOut.getByRole('button', { name: 'Delete' }).click();
      await outgoingList.getByText('No outgoing webhooks').waitFor();
      await shot(page, '78-webhooks-deleted');

      const res = await fetch(hookUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: 'after delete' }),
      });
      const refused = await res.json();
      assert.equal(res.status, 404, `a deleted webhook's URL is refused: ${JSON.stringify(refused)}`);
      assert.equal(refused.error?.code, 'webhook_not_found');
      // The lists stay empty when read again.
      await closePanel();
      await openPanel();
      await incomingList.getByText('No incoming webhooks').waitFor();
      await outgoingList.getByText('No outgoing webhooks').waitFor();
    });

    await step('no dialogs, page errors or CSP violations happened', async () => {
      assert.deepEqual(t.problems, []);
    });
  } finally {
    await receiver.close();
    await e.context.close();
  }
}
