// The chat header: room name, expiry countdown, creator, people-online toggle
// and (for its creator or an admin) the delete button.

import { h, icon } from '../dom.js';
import { formatExpiresIn, formatFull, parseDate } from '../format.js';

const EXPIRY_SOON_MS = 24 * 3600 * 1000;

/**
 * @param opts { canDelete, onDelete, onToggleMembers }
 * @returns { el, setRoom(room), setOnlineCount(n), setMembersExpanded(open), setGone(label), destroy() }
 */
export function createHeader({ canDelete, onDelete, onToggleMembers }) {
  const name = h('span', { class: 'chat-name' });
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
  const deleteButton = canDelete
    ? h(
        'button',
        { class: 'icon-btn icon-btn-danger', type: 'button', 'aria-label': 'Delete room', title: 'Delete room' },
        icon('trash'),
      )
    : null;
  deleteButton?.addEventListener('click', onDelete);

  const el = h(
    'header',
    { class: 'chat-header' },
    h('a', { class: 'icon-btn back-btn', href: '#/rooms', 'aria-label': 'Back to rooms' }, icon('back')),
    h(
      'div',
      { class: 'chat-title' },
      h('h1', {}, h('span', { class: 'chat-hash', 'aria-hidden': 'true' }, '#'), name),
      h('p', { class: 'chat-sub' }, expiry, h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'), creator),
    ),
    h('div', { class: 'chat-actions' }, membersButton, deleteButton),
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
      name.textContent = room.name;
      creator.textContent = `created by ${room.created_by}`;
      renderExpiry();
    },
    setOnlineCount(n) {
      count.textContent = String(n);
      membersButton.setAttribute('aria-label', `People online: ${n}`);
      membersButton.title = `${n} online`;
    },
    setMembersExpanded(open) {
      membersButton.setAttribute('aria-expanded', String(open));
    },
    /** @param label e.g. "expired" or "deleted" */
    setGone(label) {
      clearInterval(ticker);
      if (deleteButton) deleteButton.disabled = true;
      expiry.replaceChildren(icon('alert'), label);
      expiry.title = '';
      expiry.classList.add('soon');
    },
    destroy() {
      clearInterval(ticker);
    },
  };
}
