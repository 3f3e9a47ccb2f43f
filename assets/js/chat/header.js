// The chat header: room glyph (#, lock, @) and name, topic, expiry countdown,
// creator, the notification menu and the webhooks button (members; webhooks
// not in direct rooms), the members toggle and (for an owner or an admin) the
// delete button.

import { h, icon, roomGlyph } from '../dom.js';
import { formatExpiresIn, formatFull, parseDate } from '../format.js';
import { roomTitle } from '../rooms-store.js';
import { openWebhooks } from '../webhooks/panel.js';
import { createNotifyMenu } from './notify-menu.js';

const EXPIRY_SOON_MS = 24 * 3600 * 1000;

/**
 * @param opts { me, canDelete, onDelete, onToggleMembers, onNotifications(level) }
 * @returns { el, setRoom(room), setCanDelete(bool), setOnlineCount(n), setMembersExpanded(open), setGone(label), destroy() }
 */
export function createHeader({ me, canDelete, onDelete, onToggleMembers, onNotifications = () => {} }) {
  const name = h('span', { class: 'chat-name' });
  const glyph = h('span', { class: 'chat-glyph' });
  const topic = h('span', { class: 'chat-topic', hidden: true });
  const topicSep = h('span', { class: 'sep', 'aria-hidden': 'true', hidden: true }, '·');
  const expiry = h('span', { class: 'chat-expiry' });
  const creator = h('span', { class: 'chat-creator' });
  const count = h('span', { class: 'members-count' });
  const membersButton = h(
    'button',
    { class: 'icon-btn members-toggle', type: 'button', 'aria-controls': 'members-panel', 'aria-expanded': 'false' },
    icon('users'),
    count,
  );
  membersButton.addEventListener('click', onToggleMembers);
  const deleteButton = h(
    'button',
    { class: 'icon-btn icon-btn-danger', type: 'button', 'aria-label': 'Delete room', title: 'Delete room', hidden: !canDelete },
    icon('trash'),
  );
  deleteButton.addEventListener('click', onDelete);
  const webhooksButton = h(
    'button',
    { class: 'icon-btn webhooks-toggle', type: 'button', 'aria-label': 'Webhooks', title: 'Webhooks', hidden: true },
    icon('link'),
  );
  const notify = createNotifyMenu(onNotifications);
  let webhooks = null;
  webhooksButton.addEventListener('click', () => {
    if (room) webhooks = openWebhooks(room);
  });

  const el = h(
    'header',
    { class: 'chat-header' },
    h('a', { class: 'icon-btn back-btn', href: '#/rooms', 'aria-label': 'Back to rooms' }, icon('back')),
    h(
      'div',
      { class: 'chat-title' },
      h('h1', {}, glyph, name),
      h('p', { class: 'chat-sub' }, topic, topicSep, expiry, h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'), creator),
    ),
    h('div', { class: 'chat-actions' }, notify.el, webhooksButton, membersButton, deleteButton),
  );

  let room = null;
  const renderExpiry = () => {
    if (!room) return;
    const expiresAt = parseDate(room.expires_at);
    const left = expiresAt.getTime() - Date.now();
    expiry.replaceChildren(icon('clock'), formatExpiresIn(room.expires_at));
    expiry.title = `This room and its messages are deleted ${formatFull(expiresAt)}`;
    expiry.classList.toggle('soon', left < EXPIRY_SOON_MS);
  };
  const ticker = setInterval(renderExpiry, 30_000);

  return {
    el,
    setRoom(next) {
      room = next;
      name.textContent = roomTitle(room, me);
      glyph.replaceChildren(roomGlyph(room, 'chat-hash'));
      topic.textContent = room.topic ?? '';
      topic.title = room.topic ?? '';
      topic.hidden = !room.topic;
      topicSep.hidden = !room.topic;
      if (room.kind === 'direct') creator.textContent = 'Direct message';
      else if (room.kind === 'private') creator.textContent = `Private room, created by ${room.created_by}`;
      else creator.textContent = `created by ${room.created_by}`;
      // Webhooks belong to rooms with a name; a direct conversation has none. An end-to-end
      // encrypted room has none either: the server cannot read or write its messages.
      webhooksButton.hidden = room.kind === 'direct' || room.encrypted || !(room.is_member || room.role);
      notify.setRoom(room);
      renderExpiry();
    },
    setCanDelete(can) {
      deleteButton.hidden = !can;
    },
    setOnlineCount(n) {
      count.textContent = String(n);
      membersButton.setAttribute('aria-label', `Members (${n} online)`);
      membersButton.title = `Members (${n} online)`;
    },
    setMembersExpanded(open) {
      membersButton.setAttribute('aria-expanded', String(open));
    },
    /** @param label e.g. "expired" or "deleted" */
    setGone(label) {
      clearInterval(ticker);
      deleteButton.disabled = true;
      webhooksButton.disabled = true;
      notify.setDisabled(true);
      webhooks?.close();
      expiry.replaceChildren(icon('alert'), label);
      expiry.title = '';
      expiry.classList.add('soon');
    },
    destroy() {
      clearInterval(ticker);
      notify.close();
      webhooks?.close();
    },
  };
}
