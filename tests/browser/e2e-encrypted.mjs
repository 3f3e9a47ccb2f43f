// The `encrypted` scenario of e2e.mjs: end-to-end encrypted rooms
// (docs/encrypted-rooms.md) in real browsers.
//
// - ann creates an encrypted private room with ben; both set an encryption
//   passphrase; ann's browser shares the room key with ben's, and they chat,
//   react, mention and edit. A random marker typed by ann is printed as
//   `E2E_MARKER=...`: tests/browser.rs then checks that it appears nowhere in
//   the server's data directory, a backup or the server's log.
// - The server holds only ciphertext (REST), reaction tokens, client mentions;
//   an in-tab notification of the room says only "New message in ...".
// - ben in a second, fresh browser: a wrong passphrase is refused with a clear
//   message, the right one unlocks the room.
// - ann removes ben: the room moves to key version 2, and what ann writes then
//   never shows in ben's browser (he cannot even fetch the room any more).
// - cat, added after that, takes a generated recovery key instead of a
//   passphrase, and reads version 2 from the start but none of version 1.
// - ann and cat compare safety codes; cat marks ann verified.
// - ann, on a new device, forgot her passphrase and resets her key: her older
//   messages (version 1) are unreadable for her, version 2 reads again once
//   cat's browser has shared it with her new key, and cat's browser warns
//   that ann's key no longer matches the one cat verified.
// - cat starts an encrypted direct message with ann, who reads it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function encryptedScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const ANN = `ann_${run}`;
  const BEN = `ben_${run}`;
  const CAT = `cat_${run}`;
  const ROOM = `vault-${run}`;
  const PASSPHRASE = {
    [ANN]: `ann keeps this passphrase ${run}`,
    [BEN]: `ben keeps this passphrase ${run}`,
  };
  const ANN_NEW_PASSPHRASE = `ann starts over ${run}`;
  // Dashes: never part of base64, so the marker cannot turn up inside a ciphertext by chance.
  const MARKER = `E2E-MARKER-${randomBytes(12).toString('hex')}`;
  const AFTER_REMOVAL = `after-removal-${randomBytes(8).toString('hex')}`;
  const FIRST = 'Hello ben, this room is end-to-end encrypted';
  const SECRET = `The launch code is ${MARKER}`;
  const EDITED = `The launch code is ${MARKER}, see https://example.com/launch`;
  const NOT_GIVEN = 'Encrypted with a key you were not given';
  const WAITING = 'Waiting for a member to share the room key';
  console.log(`E2E_MARKER=${MARKER}`);
  console.log(`E2E_ROOM=${ROOM}`);

  const a = await t.newUser(browser, 'ann');
  const b = await t.newUser(browser, 'ben');
  const c = await t.newUser(browser, 'cat');
  let roomId;

  const sidebarRooms = (page) => page.locator('nav.sidebar').getByRole('list', { name: 'Rooms' });
  const composer = (page) => page.getByRole('textbox', { name: `Message #${ROOM}` });
  const say = async (page, text) => {
    const box = composer(page);
    await until('the composer to take messages', async () => box.isEnabled());
    await box.fill(text);
    await box.press('Enter');
    await until('the composer to clear', async () => (await box.inputValue()) === '');
    await until(`"${text}" to be acknowledged`, async () => (await page.locator('.msg.pending').count()) === 0);
  };
  const rowByText = (page, text) =>
    page.locator('.message-list .msg[data-id]').filter({ has: page.locator('.msg-body', { hasText: text }) });
  const reactionChip = (row, emoji) =>
    row.locator('.reaction[data-emoji]').filter({ has: row.page().locator('.reaction-emoji', { hasText: emoji }) });
  const membersPanel = (page) => page.getByRole('complementary', { name: 'Members' });
  const memberRow = (page, name) =>
    membersPanel(page).locator('.member', { has: page.locator('.member-name', { hasText: name }) });
  const restMessages = (page) =>
    page.evaluate(async (id) => {
      const res = await fetch(`/api/rooms/${encodeURIComponent(id)}/messages?limit=200`);
      if (!res.ok) throw new Error(`GET messages: ${res.status}`);
      return (await res.json()).messages;
    }, roomId);
  const status = (page, url) => page.evaluate(async (u) => (await fetch(u)).status, url);
  const notGiven = (page) => page.locator('.message-list .msg-e2e-note', { hasText: NOT_GIVEN });
  const e2eBar = (page) => page.getByRole('region', { name: 'Encryption' });

  /** Chooses a passphrase in the setup dialog that opening an encrypted room brings up. */
  const setUpKey = async (page, passphrase) => {
    const dialog = page.getByRole('dialog', { name: 'Set up end-to-end encryption' });
    await dialog.waitFor();
    await dialog.getByLabel('Encryption passphrase').fill(passphrase);
    await dialog.getByLabel('Repeat the passphrase').fill(passphrase);
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 20_000 });
  };
  /** Logs in on a fresh browser, at the room's address. */
  const logInAtRoom = async (page, username) => {
    await page.goto(`${baseUrl}/#/room/${encodeURIComponent(roomId)}`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(t.PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
  };

  await step('three people sign up', async () => {
    await t.signUp(a.page, ANN);
    await t.signUp(b.page, BEN);
    await t.signUp(c.page, CAT);
  });

  await step('ann creates an end-to-end encrypted private room with ben and sets up her key', async () => {
    await a.page.getByRole('main').getByRole('button', { name: 'New private room' }).click();
    const dialog = a.page.getByRole('dialog', { name: 'New private room' });
    await dialog.getByLabel('Room name').fill(ROOM);
    await dialog.getByRole('combobox', { name: 'Members' }).pressSequentially(BEN, { delay: 20 });
    await dialog.getByRole('option', { name: BEN }).click();
    await dialog.getByRole('listitem').filter({ hasText: BEN }).waitFor();
    // Out of the people field: its suggestions close (a late answer may have opened them).
    await dialog.getByLabel('Room name').click();
    const encrypted = dialog.getByRole('checkbox', { name: 'End-to-end encrypted' });
    assert.equal(await encrypted.isChecked(), false, 'encryption is opt-in');
    await encrypted.check();
    await shot(a.page, 'e2e-01-new-encrypted-room');
    await t.assertControlsNamed(a.page, 'new encrypted private room');
    await dialog.getByRole('button', { name: 'Create private room' }).click();

    const setup = a.page.getByRole('dialog', { name: 'Set up end-to-end encryption' });
    await setup.waitFor();
    await setup.getByLabel('Encryption passphrase').fill(PASSPHRASE[ANN]);
    await setup.getByLabel('Repeat the passphrase').fill('something else entirely');
    await setup.getByRole('button', { name: 'Create key' }).click();
    await setup.getByText('The two passphrases are not the same.').waitFor();
    await shot(a.page, 'e2e-02-set-up-key');
    await t.assertControlsNamed(a.page, 'encryption setup');
    await setUpKey(a.page, PASSPHRASE[ANN]);

    await a.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    roomId = decodeURIComponent(/#\/room\/([^/?#]+)$/.exec(a.page.url())[1]);
    console.log(`E2E_ROOM_ID=${roomId}`);
    await a.page.locator('.chat-header').getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await sidebarRooms(a.page).getByRole('link', { name: ROOM }).getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await e2eBar(a.page).getByText(`${BEN} has not set up encryption yet`).waitFor();
    assert.ok(await a.page.locator('.attach-btn').isHidden(), 'no attachments in an encrypted room');
    await say(a.page, FIRST);
    await t.expectMessage(a.page, ANN, FIRST);
  });

  await step('ben sets up his key, gets the room key from ann’s browser, and they chat', async () => {
    const link = sidebarRooms(b.page).getByRole('link', { name: ROOM });
    await link.waitFor();
    await link.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await link.click();
    await setUpKey(b.page, PASSPHRASE[BEN]);
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    // ann's browser sees ben arrive, and wraps the room key for his new public key.
    await t.expectMessage(b.page, ANN, FIRST);
    await say(a.page, SECRET);
    await t.expectMessage(b.page, ANN, SECRET);
    await say(b.page, `@${ANN} got it, my lips are sealed`);
    await t.expectMessage(a.page, BEN, 'got it, my lips are sealed');
    await rowByText(a.page, 'got it, my lips are sealed').and(a.page.locator('.msg-mention')).waitFor();
    await e2eBar(a.page).getByText('Only the members of this room can read its messages.').waitFor();
    await shot(b.page, 'e2e-03-encrypted-chat');
    await t.assertControlsNamed(b.page, 'encrypted room');
  });

  await step('the server holds ciphertext only; notifications say nothing of the content', async () => {
    const messages = await restMessages(a.page);
    assert.equal(messages.length, 3);
    for (const m of messages) {
      assert.equal(m.body, '', 'no plain body');
      assert.equal(m.html, undefined, 'no html');
      assert.equal(typeof m.ciphertext, 'string');
      assert.equal(typeof m.iv, 'string');
      assert.equal(m.key_version, 1);
    }
    assert.ok(!JSON.stringify(messages).includes(MARKER), 'the marker is not in the server’s answer');
    assert.deepEqual(messages[2].mentions, [ANN], 'the mention the browser computed');
    const note = await a.page.evaluate(
      async ({ room, message }) => {
        const { messageNotification } = await import('/js/notifications/text.js');
        return messageNotification(room, message, false);
      },
      { room: { id: roomId, name: ROOM, kind: 'private', encrypted: true }, message: messages[1] },
    );
    assert.equal(note.body, `New message in ${ROOM}`);
    assert.ok(!JSON.stringify(note).includes(MARKER), 'the notification has no content');
  });

  await step('reactions and edits are encrypted too', async () => {
    const benRow = rowByText(b.page, SECRET);
    await benRow.hover();
    await benRow.locator('.msg-actions').getByRole('button', { name: 'Add reaction', exact: true }).click();
    const picker = b.page.getByRole('dialog', { name: 'Add a reaction' });
    await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('thumbs');
    await picker.getByRole('button', { name: 'thumbs up', exact: true }).click();
    const annRow = rowByText(a.page, SECRET);
    const annChip = reactionChip(annRow, '👍');
    await until('ann to see ben’s 👍', async () => (await annChip.count()) === 1 && (await annChip.getAttribute('aria-pressed')) === 'false');
    assert.match(await annChip.getAttribute('title'), new RegExp(`^${BEN} reacted with thumbs up$`));
    await annChip.click();
    await until('ann to see two 👍, hers included', async () =>
      (await annChip.locator('.reaction-count').textContent()) === '2' && (await annChip.getAttribute('aria-pressed')) === 'true');
    const stored = (await restMessages(a.page))[1].reactions;
    assert.equal(stored.length, 1);
    assert.match(stored[0].emoji, /^v1:[A-Za-z0-9_-]{22}$/, 'the server sees a keyed token, not the emoji');

    await composer(a.page).press('ArrowUp');
    const editor = a.page.getByRole('textbox', { name: 'Edit message' });
    await editor.waitFor();
    assert.equal(await editor.inputValue(), SECRET, 'the decrypted text is edited');
    await editor.fill(EDITED);
    await editor.press('Enter');
    await editor.waitFor({ state: 'detached' });
    const edited = rowByText(b.page, 'see https://example.com/launch');
    await edited.locator('.msg-edited').waitFor();
    const link = edited.getByRole('link', { name: 'https://example.com/launch' });
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await reactionChip(edited, '👍').locator('.reaction-count').textContent(), '2', 'reactions survive');
    const after = (await restMessages(a.page))[1];
    assert.ok(after.edited_at && after.body === '' && after.ciphertext, 'the edit is ciphertext too');
    await shot(a.page, 'e2e-04-reactions-and-edit');
  });

  await step('ben unlocks the room in a second browser; a wrong passphrase is refused', async () => {
    const b2 = await t.newUser(browser, 'ben-laptop');
    await logInAtRoom(b2.page, BEN);
    const dialog = b2.page.getByRole('dialog', { name: 'Unlock end-to-end encryption' });
    await dialog.waitFor();
    await dialog.getByLabel('Passphrase or recovery key').fill('not my passphrase at all');
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    await dialog.getByRole('alert').getByText('Wrong passphrase.').waitFor({ timeout: 20_000 });
    await shot(b2.page, 'e2e-05-wrong-passphrase');
    await t.assertControlsNamed(b2.page, 'unlock encryption');
    await dialog.getByLabel('Passphrase or recovery key').fill(PASSPHRASE[BEN]);
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 20_000 });
    await t.expectMessage(b2.page, ANN, 'see https://example.com/launch');
    await t.expectMessage(b2.page, ANN, FIRST);
    await b2.context.close();
  });

  await step('ann removes ben; what she writes next never shows in ben’s browser', async () => {
    // Anything that ever puts the text on ben's page is caught, even for a moment.
    await b.page.evaluate((secret) => {
      window.__sawSecret = false;
      new MutationObserver(() => {
        if (document.body.textContent.includes(secret)) window.__sawSecret = true;
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }, AFTER_REMOVAL);
    await memberRow(a.page, BEN).getByRole('button', { name: `Remove ${BEN} from the room` }).click();
    await a.page.getByRole('dialog', { name: `Remove ${BEN} from #${ROOM}?` }).getByRole('button', { name: 'Remove' }).click();
    await membersPanel(a.page).getByText(`${BEN} was removed.`).waitFor();
    await b.page.getByRole('heading', { name: `You are no longer a member of #${ROOM}` }).waitFor();
    await say(a.page, `Just us now: ${AFTER_REMOVAL}`);
    await t.expectMessage(a.page, ANN, AFTER_REMOVAL);
    const last = (await restMessages(a.page)).at(-1);
    assert.equal(last.key_version, 2, 'the removal moved the room to a new key version');
    await b.page.waitForTimeout(1500);
    assert.equal(await b.page.evaluate(() => window.__sawSecret), false, 'ben’s page never showed it');
    assert.ok(!(await b.page.content()).includes(AFTER_REMOVAL));
    assert.equal(await status(b.page, `/api/rooms/${roomId}/messages`), 404, 'ben cannot read the room');
    assert.equal(await status(b.page, `/api/rooms/${roomId}/keys/me`), 404, 'nor fetch its keys');
    await shot(b.page, 'e2e-06-removed');
  });

  await step('cat, added later, reads from the current key version on', async () => {
    const panel = membersPanel(a.page);
    await panel.getByRole('combobox', { name: 'Add a member' }).pressSequentially(CAT, { delay: 20 });
    await panel.getByRole('option', { name: CAT }).click();
    await panel.getByText(`${CAT} was added.`).waitFor();
    const link = sidebarRooms(c.page).getByRole('link', { name: ROOM });
    await link.waitFor();
    await link.click();
    // cat takes a generated recovery key instead of a passphrase.
    const setup = c.page.getByRole('dialog', { name: 'Set up end-to-end encryption' });
    await setup.getByRole('button', { name: 'Use a recovery key instead' }).click();
    const recoveryKey = await setup.getByLabel('Your recovery key').inputValue();
    assert.match(recoveryKey, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/, 'a recovery key is 32 base32 characters in groups');
    await setup.getByRole('button', { name: 'Create key' }).click();
    await setup.getByText('Save your recovery key first').waitFor();
    await setup.getByLabel('I have saved my recovery key').check();
    await shot(c.page, 'e2e-07-recovery-key');
    await setup.getByRole('button', { name: 'Create key' }).click();
    await setup.waitFor({ state: 'detached', timeout: 20_000 });
    await t.expectMessage(c.page, ANN, AFTER_REMOVAL);
    await until('the three version-1 messages to show as not given', async () => (await notGiven(c.page).count()) === 3);
    assert.equal(await c.page.locator('.message-list').getByText(MARKER).count(), 0);
    await say(c.page, 'cat here, hello');
    await t.expectMessage(a.page, CAT, 'cat here, hello');
    await shot(c.page, 'e2e-08-joined-later');
  });

  let codeSeenByAnn;
  await step('ann and cat compare safety codes; cat marks ann verified', async () => {
    await e2eBar(a.page).getByRole('button', { name: 'Verify members' }).click();
    const annDialog = a.page.getByRole('dialog', { name: 'Verify members' });
    const catItem = annDialog.locator(`.e2e-verify-item[data-user="${CAT}"]`);
    codeSeenByAnn = (await catItem.locator('.e2e-safety-code').textContent()).trim();
    assert.match(codeSeenByAnn, /^(\d{5} ){11}\d{5}$/, 'a safety code is 60 digits in 12 groups');
    await catItem.getByText('Not verified').waitFor();
    await shot(a.page, 'e2e-09-verify-members');
    await t.assertControlsNamed(a.page, 'verify members');
    await annDialog.getByRole('button', { name: 'Done' }).click();

    await e2eBar(c.page).getByRole('button', { name: 'Verify members' }).click();
    const catDialog = c.page.getByRole('dialog', { name: 'Verify members' });
    const annItem = catDialog.locator(`.e2e-verify-item[data-user="${ANN}"]`);
    assert.equal((await annItem.locator('.e2e-safety-code').textContent()).trim(), codeSeenByAnn, 'both see the same code');
    await annItem.getByRole('button', { name: `Mark ${ANN} verified` }).click();
    await annItem.getByText('Verified', { exact: true }).waitFor();
    await catDialog.getByRole('button', { name: 'Done' }).click();
  });

  let a2;
  await step('ann resets her key on a new device: old messages stay unreadable, new ones read', async () => {
    await a.context.close();
    // Later, on another device: cat's browser sees her come back and shares the key then.
    await until('cat to see ann go offline', async () =>
      !(await memberRow(c.page, ANN).evaluate((row) => row.classList.contains('online'))));
    a2 = await t.newUser(browser, 'ann-new-laptop');
    await logInAtRoom(a2.page, ANN);
    const unlock = a2.page.getByRole('dialog', { name: 'Unlock end-to-end encryption' });
    await unlock.getByRole('button', { name: 'Forgot passphrase? Reset key' }).click();
    const confirm = a2.page.getByRole('dialog', { name: 'Reset your encryption key?' });
    await confirm.getByText('Encrypted messages sent before now stay unreadable for you').waitFor();
    await confirm.getByRole('button', { name: 'Reset key' }).click();
    const reset = a2.page.getByRole('dialog', { name: 'Reset your encryption key' });
    await reset.getByLabel('Encryption passphrase').fill(ANN_NEW_PASSPHRASE);
    await reset.getByLabel('Repeat the passphrase').fill(ANN_NEW_PASSPHRASE);
    await shot(a2.page, 'e2e-10-reset-key');
    await reset.getByRole('button', { name: 'Reset key' }).click();
    await reset.waitFor({ state: 'detached', timeout: 20_000 });
    await a2.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();

    // Version 1 was wrapped for the old key only: her own messages of then included.
    await until('ann’s version-1 messages to show as not given', async () => (await notGiven(a2.page).count()) === 3);
    assert.equal(await a2.page.locator('.message-list').getByText(MARKER).count(), 0);
    // Version 2 comes back once cat's browser wraps it for her new key.
    await t.expectMessage(a2.page, ANN, AFTER_REMOVAL);
    await t.expectMessage(a2.page, CAT, 'cat here, hello');
    assert.equal(await a2.page.locator('.message-list').getByText(WAITING).count(), 0);
    await say(c.page, 'welcome back, ann');
    await t.expectMessage(a2.page, CAT, 'welcome back, ann');
    await say(a2.page, 'new laptop, new key');
    await t.expectMessage(c.page, ANN, 'new laptop, new key');
    await shot(a2.page, 'e2e-11-after-reset');

    const warning = e2eBar(c.page).getByRole('alert').filter({ hasText: `${ANN}’s encryption key no longer matches the one you verified` });
    await warning.waitFor();
    await shot(c.page, 'e2e-12-key-changed-warning');
    await e2eBar(c.page).getByRole('button', { name: 'Verify members' }).first().click();
    const catDialog = c.page.getByRole('dialog', { name: 'Verify members' });
    const annItem = catDialog.locator(`.e2e-verify-item[data-user="${ANN}"]`);
    await annItem.getByText('Key changed since you verified it').waitFor();
    const newCode = (await annItem.locator('.e2e-safety-code').textContent()).trim();
    assert.notEqual(newCode, codeSeenByAnn, 'a new key gives a new safety code');
    await catDialog.getByRole('button', { name: 'Done' }).click();
  });

  await step('cat starts an end-to-end encrypted direct message with ann', async () => {
    await c.page.locator('nav.sidebar').getByRole('button', { name: 'New direct message' }).click();
    const dialog = c.page.getByRole('dialog', { name: 'New direct message' });
    await dialog.getByRole('combobox', { name: 'People' }).pressSequentially(ANN, { delay: 20 });
    await dialog.getByRole('option', { name: ANN }).click();
    await dialog.getByRole('listitem').filter({ hasText: ANN }).waitFor();
    await dialog.getByRole('heading', { name: 'New direct message' }).click();
    await dialog.getByRole('checkbox', { name: 'End-to-end encrypted' }).check();
    await dialog.getByRole('button', { name: 'Start conversation' }).click();
    await c.page.getByRole('heading', { name: ANN, level: 1 }).getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    const dm = c.page.getByRole('textbox', { name: `Message ${ANN}` });
    await until('the composer to take messages', async () => dm.isEnabled());
    await dm.fill('just between us two');
    await dm.press('Enter');
    const link = a2.page.locator('nav.sidebar').getByRole('list', { name: 'Direct messages' }).getByRole('link', { name: CAT });
    await link.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await link.click();
    await t.expectMessage(a2.page, CAT, 'just between us two');
    await shot(a2.page, 'e2e-13-encrypted-direct-message');
    await a2.context.close();
  });

  await step('no dialogs, page errors or CSP violations happened', async () => {
    assert.deepEqual(t.problems, []);
  });

  await b.context.close();
  await c.context.close();
}
