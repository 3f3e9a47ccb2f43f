// The signed-in frame: top bar (brand, message search, connection, user,
// browser notifications, access tokens, log out), the sidebar with the user's rooms
// and direct messages (desktop only), and the outlet the routed view renders
// into.

import { avatar, encryptedBadge, h, icon, roomGlyph } from '../dom.js';
import { createNotificationsToggle } from '../notifications/toggle.js';
import { dmPartners, roomTitle } from '../rooms-store.js';
import { createSearch } from '../search/search.js';
import { connectionStatus } from './connection.js';
import { newDmDialog } from './new-conversation.js';

/**
 * @param ctx { user, socket, rooms, notifications, signOut, navigate }
 * @returns { el, outlet, setActive(view, roomId), destroy }
 */
export function createShell(ctx) {
  const connection = connectionStatus(ctx.socket);
  const notifications = createNotificationsToggle(ctx.notifications);
  const search = createSearch(ctx);

  const logout = h(
    'button',
    { class: 'btn btn-ghost btn-small', type: 'button', 'aria-label': 'Log out', title: 'Log out' },
    icon('logout'),
    h('span', { class: 'hide-narrow' }, 'Log out'),
  );
  logout.addEventListener('click', async () => {
    logout.disabled = true;
    await ctx.signOut();
  });
  const tokens = h(
    'a',
    { class: 'icon-btn', href: '#/settings/tokens', 'aria-label': 'Access tokens', title: 'Access tokens' },
    icon('key'),
  );

  const topbar = h(
    'header',
    { class: 'topbar' },
    h(
      'a',
      { class: 'brand', href: '#/rooms', 'aria-label': 'confab home' },
      h('img', { src: '/favicon.svg', alt: '', width: 26, height: 26 }),
      h('span', { class: 'brand-name' }, 'confab'),
    ),
    search.el,
    h('div', { class: 'topbar-spacer' }),
    connection.el,
    h(
      'div',
      { class: 'me', title: `Signed in as ${ctx.user.username}` },
      avatar(ctx.user.username, 'avatar-sm'),
      h('span', { class: 'me-name' }, ctx.user.username),
      ctx.user.is_admin ? h('span', { class: 'tag' }, 'admin') : null,
    ),
    notifications.el,
    tokens,
    logout,
  );

  const roomList = h('ul', { class: 'side-rooms', 'aria-labelledby': 'side-rooms-title' });
  const dmList = h('ul', { class: 'side-rooms', 'aria-labelledby': 'side-dms-title' });
  const newDm = h(
    'button',
    { class: 'icon-btn', type: 'button', 'aria-label': 'New direct message', title: 'New direct message' },
    icon('plus'),
  );
  newDm.addEventListener('click', () => newDmDialog(ctx));
  const sidebar = h(
    'nav',
    { class: 'sidebar', 'aria-label': 'Rooms and direct messages' },
    h(
      'div',
      { class: 'side-head' },
      h('h2', { id: 'side-rooms-title' }, 'Rooms'),
      h(
        'a',
        { class: 'icon-btn', href: '#/rooms', 'aria-label': 'Join or create a room', title: 'Join or create a room' },
        icon('plus'),
      ),
    ),
    roomList,
    h('div', { class: 'side-head side-head-gap' }, h('h2', { id: 'side-dms-title' }, 'Direct messages'), newDm),
    dmList,
    h(
      'p',
      { class: 'side-foot' },
      h('a', { href: '/api/docs', target: '_blank', rel: 'noopener noreferrer' }, 'REST API docs'),
    ),
  );

  const outlet = h('main', { class: 'outlet', id: 'main' });
  const el = h('div', { class: 'shell' }, topbar, h('div', { class: 'shell-body' }, sidebar, outlet));

  let active = { view: 'rooms', roomId: null };
  const link = (room, glyph) => {
    const current = active.view === 'chat' && active.roomId === room.id;
    const unread = room.unread_count ?? 0;
    const mentions = room.mention_count ?? 0;
    const title = roomTitle(room, ctx.user.username);
    const counts = unreadText(unread, mentions);
    return h(
      'li',
      {},
      h(
        'a',
        {
          class: `side-room${unread > 0 ? ' side-unread' : ''}`,
          href: `#/room/${encodeURIComponent(room.id)}`,
          'aria-current': current ? 'page' : null,
          // The badges are read as words: "design, 3 unread, 1 mention".
          'aria-label': counts ? `${room.kind === 'private' ? 'Private room ' : ''}${title}, ${counts}` : null,
          dataset: { kind: room.kind ?? 'public' },
        },
        glyph,
        h('span', { class: 'side-name' }, title),
        unreadBadges(unread, mentions),
      ),
    );
  };
  const renderRooms = () => {
    const rooms = ctx.rooms.myRooms.map((room) => link(room, roomGlyph(room, 'side-hash')));
    if (ctx.rooms.loaded && rooms.length === 0) rooms.push(h('li', { class: 'side-empty' }, 'No rooms yet'));
    roomList.replaceChildren(...rooms);
    const dms = ctx.rooms.directs.map((room) =>
      link(room, [
        avatar(dmPartners(room, ctx.user.username)[0], 'avatar-xs'),
        room.encrypted ? encryptedBadge('e2e-badge side-e2e') : null,
      ]),
    );
    if (ctx.rooms.loaded && dms.length === 0) dms.push(h('li', { class: 'side-empty' }, 'No conversations yet'));
    dmList.replaceChildren(...dms);
  };
  ctx.rooms.addEventListener('change', renderRooms);
  renderRooms();

  return {
    el,
    outlet,
    setActive(view, roomId = null) {
      active = { view, roomId };
      el.dataset.view = view;
      search.setOpenRoom(view === 'chat' ? roomId : null);
      if (view === 'tokens') tokens.setAttribute('aria-current', 'page');
      else tokens.removeAttribute('aria-current');
      renderRooms();
    },
    destroy() {
      connection.destroy();
      notifications.destroy();
      search.destroy();
      ctx.rooms.removeEventListener('change', renderRooms);
      el.remove();
    },
  };
}

/** What the badges say, for assistive technology: "12 unread, 2 mentions" (empty: nothing unread). */
function unreadText(unread, mentions) {
  const said = [];
  if (unread > 0) said.push(`${unread} unread`);
  if (mentions > 0) said.push(mentions === 1 ? '1 mention' : `${mentions} mentions`);
  return said.join(', ');
}

/** A room's unread and mention counts as badges ("12", "99+", "@2"), hidden from assistive technology. */
function unreadBadges(unread, mentions) {
  if (unread <= 0 && mentions <= 0) return null;
  return h(
    'span',
    { class: 'side-badges', 'aria-hidden': 'true' },
    mentions > 0
      ? h('span', { class: 'side-badge side-badge-mention' }, `@${capped(mentions)}`)
      : null,
    unread > 0 ? h('span', { class: 'side-badge' }, capped(unread)) : null,
  );
}

/** A count as shown in a badge: "99+" above 99. */
function capped(n) {
  return n > 99 ? '99+' : String(n);
}
