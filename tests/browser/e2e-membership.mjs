// The `membership` scenario of e2e.mjs: private rooms, direct messages and
// room membership, seen through three browser contexts (three users).
//
// - ann opens a direct message with ben from the user picker; both chat live.
// - ann creates a private room and adds ben from the members panel; ben sees
//   it appear in his sidebar live, with a lock, and chats in it.
// - cat sees neither the direct message nor the private room, before and
//   after a reload, in the sidebar and in the public rooms to join.
// - an unknown invite code is reported clearly; ann's invite link brings cat
//   into the private room; ann removes cat, whose UI drops the room live.

import assert from 'node:assert/strict';

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function membershipScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const ANN = `ann_${run}`;
  const BEN = `ben_${run}`;
  const CAT = `cat_${run}`;
  const SECRET = `secret-plans-${run}`;
  const TOPIC = 'Launch planning, members only';
  const LOBBY = `lobby-${run}`;

  const a = await t.newUser(browser, 'ann');
  const b = await t.newUser(browser, 'ben');
  const c = await t.newUser(browser, 'cat');
  await a.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  let dmId;
  let secretId;
  let inviteUrl;

  const { signUp } = t;
  const sidebar = (page) => page.locator('nav.sidebar');
  const sidebarRooms = (page) => sidebar(page).getByRole('list', { name: 'Rooms' });
  const sidebarDms = (page) => sidebar(page).getByRole('list', { name: 'Direct messages' });
  const roomIdFromUrl = (page) => decodeURIComponent(/#\/room\/([^/?#]+)$/.exec(page.url())[1]);
  const composer = (page, label) => page.getByRole('textbox', { name: label });
  const say = async (page, label, text) => {
    const box = composer(page, label);
    await box.fill(text);
    await box.press('Enter');
    await until('the composer to clear', async () => (await box.inputValue()) === '');
  };
  const membersPanel = (page) => page.getByRole('complementary', { name: 'Members' });
  const memberRow = (page, name) => membersPanel(page).locator('.member', { has: page.locator('.member-name', { hasText: name }) });
  /** Everything cat's UI lists: sidebar links and landing-page cards. */
  const visibleRoomTexts = async (page) => [
    ...(await sidebar(page).locator('.side-room').allInnerTexts()),
    ...(await page.locator('.room-card').allInnerTexts()),
  ];

  await step('three people sign up; a public room exists', async () => {
    await signUp(a.page, ANN);
    await signUp(b.page, BEN);
    // A public room, so cat's "Public rooms to join" has something in it.
    await b.page.evaluate(async (name) => {
      const res = await fetch('/api/rooms', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 201) throw new Error(`create room: ${res.status}`);
    }, LOBBY);
    await signUp(c.page, CAT);
  });

  await step('ann starts a direct message with ben from the user picker', async () => {
    await sidebar(a.page).getByRole('button', { name: 'New direct message' }).click();
    const dialog = a.page.getByRole('dialog', { name: 'New direct message' });
    await dialog.waitFor();
    await dialog.getByRole('combobox', { name: 'People' }).pressSequentially('ben', { delay: 20 });
    const option = dialog.getByRole('option', { name: BEN });
    await option.waitFor();
    await shot(a.page, '30-dm-picker');
    await t.assertControlsNamed(a.page, 'new direct message');
    await option.click();
    await dialog.getByRole('listitem').filter({ hasText: BEN }).waitFor();
    await dialog.getByRole('button', { name: 'Start conversation' }).click();
    await a.page.getByRole('heading', { name: BEN, level: 1 }).waitFor();
    dmId = roomIdFromUrl(a.page);
    await a.page.getByText(`Your conversation with ${BEN}`).waitFor();
    await sidebarDms(a.page).getByRole('link', { name: BEN }).waitFor();
  });

  await step('ben sees the conversation appear live and they chat both ways', async () => {
    const link = sidebarDms(b.page).getByRole('link', { name: ANN });
    await link.waitFor();
    await link.click();
    await b.page.getByRole('heading', { name: ANN, level: 1 }).waitFor();
    assert.equal(roomIdFromUrl(b.page), dmId, 'ben opened the same direct room');
    await say(a.page, `Message ${BEN}`, 'Hi ben, just between us');
    await t.expectMessage(b.page, ANN, 'Hi ben, just between us');
    await say(b.page, `Message ${ANN}`, 'Hi ann, got it');
    await t.expectMessage(a.page, BEN, 'Hi ann, got it');
    await t.expectMessage(b.page, BEN, 'Hi ann, got it');
    await shot(b.page, '31-dm-chat');
  });

  await step('ann creates a private room with a topic', async () => {
    await a.page.getByRole('link', { name: 'Join or create a room' }).click();
    await a.page.getByRole('heading', { name: `Hi ${ANN}` }).waitFor();
    await a.page.getByRole('main').getByRole('button', { name: 'New private room' }).click();
    const dialog = a.page.getByRole('dialog', { name: 'New private room' });
    await dialog.getByLabel('Room name').fill(SECRET);
    await dialog.getByLabel('Topic (optional)').fill(TOPIC);
    await shot(a.page, '32-new-private-room');
    await dialog.getByRole('button', { name: 'Create private room' }).click();
    await a.page.getByRole('heading', { name: SECRET, level: 1 }).waitFor();
    secretId = roomIdFromUrl(a.page);
    await a.page.locator('.chat-header').getByRole('img', { name: 'Private room' }).waitFor();
    await a.page.locator('.chat-header .chat-topic', { hasText: TOPIC }).waitFor();
    await sidebarRooms(a.page).getByRole('link', { name: SECRET }).getByRole('img', { name: 'Private room' }).waitFor();
  });

  await step('ann adds ben from the members panel', async () => {
    const panel = membersPanel(a.page);
    await memberRow(a.page, ANN).locator('.member-role', { hasText: 'owner' }).waitFor();
    await panel.getByRole('combobox', { name: 'Add a member' }).pressSequentially('be', { delay: 20 });
    const option = panel.getByRole('option', { name: BEN });
    await option.waitFor();
    await option.click();
    await panel.getByText(`${BEN} was added.`).waitFor();
    await memberRow(a.page, BEN).waitFor();
    await until('the panel to say two members', async () => (await panel.locator('.members-title').textContent()) === 'Members — 2');
  });

  await step('ben sees the private room appear live, with a lock, and chats in it', async () => {
    // No reload: ben is still in the direct message.
    const link = sidebarRooms(b.page).getByRole('link', { name: SECRET });
    await link.waitFor();
    await link.getByRole('img', { name: 'Private room' }).waitFor();
    await shot(b.page, '33-private-room-appears');
    await link.click();
    await b.page.getByRole('heading', { name: SECRET, level: 1 }).waitFor();
    assert.equal(roomIdFromUrl(b.page), secretId);
    await b.page.locator('.chat-header').getByRole('img', { name: 'Private room' }).waitFor();
    await b.page.locator('.chat-header .chat-topic', { hasText: TOPIC }).waitFor();
    await say(b.page, `Message #${SECRET}`, 'ben here, in the secret room');
    await t.expectMessage(a.page, BEN, 'ben here, in the secret room');
    await say(a.page, `Message #${SECRET}`, 'welcome, ben');
    await t.expectMessage(b.page, ANN, 'welcome, ben');
    await shot(a.page, '34-private-room-members');
    await t.assertControlsNamed(a.page, 'private room with members panel');
  });

  await step('clicking an author’s name opens the direct message with them', async () => {
    await b.page.locator('.message-list').getByRole('button', { name: ANN }).click();
    await b.page.getByRole('heading', { name: ANN, level: 1 }).waitFor();
    assert.equal(roomIdFromUrl(b.page), dmId, 'the existing conversation, not a new one');
    await t.expectMessage(b.page, ANN, 'Hi ben, just between us');
  });

  await step('cat sees neither the direct message nor the private room, even after a reload', async () => {
    for (const when of ['live', 'after reload']) {
      if (when === 'after reload') await c.page.reload();
      await c.page.getByRole('heading', { name: `Hi ${CAT}` }).waitFor();
      // The lists have loaded once the public room shows up to join.
      await c.page.locator('#browse-rooms .room-card', { hasText: LOBBY }).waitFor();
      await sidebarDms(c.page).getByText('No conversations yet').waitFor();
      await c.page.locator('#my-dms').getByText('No direct messages yet').waitFor();
      assert.equal(await sidebarDms(c.page).getByRole('link').count(), 0, `cat has no direct messages (${when})`);
      assert.equal(await c.page.locator('.room-card[data-kind="direct"]').count(), 0, `no direct room listed (${when})`);
      assert.equal(await c.page.locator('.room-card[data-kind="private"]').count(), 0, `no private room listed (${when})`);
      const texts = (await visibleRoomTexts(c.page)).join('\n');
      assert.ok(!texts.includes(SECRET), `cat's UI lists the private room (${when}): ${texts}`);
    }
    const status = await c.page.evaluate(async (id) => (await fetch(`/api/rooms/${id}`)).status, secretId);
    assert.equal(status, 404, 'the private room is not found for cat');
    await c.page.goto(`${baseUrl}/#/room/${encodeURIComponent(secretId)}`);
    await c.page.getByRole('heading', { name: 'Room not found' }).waitFor();
    await shot(c.page, '35-outsider-room-not-found');
    await c.page.getByRole('link', { name: 'Back to rooms' }).click();
    await c.page.getByRole('heading', { name: `Hi ${CAT}` }).waitFor();
    await shot(c.page, '36-outsider-rooms');
  });

  await step('an unknown invite link is reported clearly', async () => {
    await c.page.goto(`${baseUrl}/#/invite/${'x'.repeat(32)}`);
    await c.page.getByRole('heading', { name: 'This invite link is not valid' }).waitFor();
    await shot(c.page, '37-invite-invalid');
  });

  await step('ann copies an invite link from the members panel', async () => {
    const panel = membersPanel(a.page);
    await panel.getByRole('button', { name: 'Copy invite link' }).click();
    const field = panel.getByRole('textbox', { name: 'Invite link' });
    await until('the invite link to show', async () => /#\/invite\/[\w-]{32,}$/.test(await field.inputValue()));
    inviteUrl = await field.inputValue();
    assert.ok(inviteUrl.startsWith(baseUrl), `invite URL ${inviteUrl} is on this server`);
    const copied = await a.page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, inviteUrl, 'the invite link is on the clipboard');
    await panel.getByText('Invite link created and copied.').waitFor();
    await shot(a.page, '38-invite-link');
  });

  await step('cat opens the invite link and ends up in the private room', async () => {
    await c.page.goto(inviteUrl);
    await c.page.getByRole('heading', { name: SECRET, level: 1 }).waitFor();
    assert.equal(roomIdFromUrl(c.page), secretId);
    await t.expectMessage(c.page, ANN, 'welcome, ben');
    await sidebarRooms(c.page).getByRole('link', { name: SECRET }).waitFor();
    // Back does not accept the invite again: the invite page was replaced.
    assert.ok(!(await c.page.evaluate(() => location.hash)).startsWith('#/invite/'));
    await memberRow(a.page, CAT).waitFor();
    await say(c.page, `Message #${SECRET}`, 'cat joined by invite');
    await t.expectMessage(a.page, CAT, 'cat joined by invite');
    await shot(c.page, '39-joined-by-invite');
  });

  await step('ann removes cat from the members panel; cat’s UI drops the room live', async () => {
    await memberRow(a.page, CAT).getByRole('button', { name: `Remove ${CAT} from the room` }).click();
    const confirm = a.page.getByRole('dialog', { name: `Remove ${CAT} from #${SECRET}?` });
    await confirm.getByRole('button', { name: 'Remove' }).click();
    await membersPanel(a.page).getByText(`${CAT} was removed.`).waitFor();
    await memberRow(a.page, CAT).waitFor({ state: 'detached' });
    await c.page.getByRole('heading', { name: `You are no longer a member of #${SECRET}` }).waitFor();
    await sidebarRooms(c.page).getByRole('link', { name: SECRET }).waitFor({ state: 'detached' });
    await shot(c.page, '40-removed-from-room');
    await c.page.reload();
    await c.page.getByRole('heading', { name: 'Room not found' }).waitFor();
    assert.equal(await sidebarRooms(c.page).getByRole('link', { name: SECRET }).count(), 0);
  });

  await step('ann and ben still have both conversations', async () => {
    for (const [page, other] of [
      [a.page, BEN],
      [b.page, ANN],
    ]) {
      await sidebarRooms(page).getByRole('link', { name: SECRET }).waitFor();
      await sidebarDms(page).getByRole('link', { name: other }).waitFor();
    }
    await a.page.getByRole('link', { name: 'Join or create a room' }).click();
    await a.page.locator('#my-rooms .room-card', { hasText: SECRET }).getByRole('img', { name: 'Private room' }).waitFor();
    await a.page.locator('#my-dms .room-card', { hasText: BEN }).waitFor();
    await shot(a.page, '41-rooms-and-dms');
    await t.assertControlsNamed(a.page, 'rooms with direct messages');
  });

  await step('no dialogs, page errors or CSP violations happened', async () => {
    assert.deepEqual(t.problems, []);
  });

  await a.context.close();
  await b.context.close();
  await c.context.close();
}
