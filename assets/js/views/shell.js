// The signed-in frame: top bar (brand, connection, user, log out), the rooms
// sidebar (desktop only), and the outlet the routed view renders into.

import { avatar, h, icon } from '../dom.js';
import { connectionStatus } from './connection.js';

/**
 * @param ctx { user, socket, rooms, signOut }
 * @returns { el, outlet, setActive(view, roomId), destroy }
 */
export function createShell(ctx) {
  const connection = connectionStatus(ctx.socket);

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

  const topbar = h(
    'header',
    { class: 'topbar' },
    h(
      'a',
      { class: 'brand', href: '#/rooms', 'aria-label': 'confab home' },
      h('img', { src: '/favicon.svg', alt: '', width: 26, height: 26 }),
      h('span', { class: 'brand-name' }, 'confab'),
    ),
    h('div', { class: 'topbar-spacer' }),
    connection.el,
    h(
      'div',
      { class: 'me', title: `Signed in as ${ctx.user.username}` },
      avatar(ctx.user.username, 'avatar-sm'),
      h('span', { class: 'me-name' }, ctx.user.username),
      ctx.user.is_admin ? h('span', { class: 'tag' }, 'admin') : null,
    ),
    logout,
  );

  const roomList = h('ul', { class: 'side-rooms' });
  const sidebar = h(
    'nav',
    { class: 'sidebar', 'aria-label': 'Rooms' },
    h(
      'div',
      { class: 'side-head' },
      h('h2', {}, 'Rooms'),
      h(
        'a',
        { class: 'icon-btn', href: '#/rooms', 'aria-label': 'Join or create a room', title: 'Join or create a room' },
        icon('plus'),
      ),
    ),
    roomList,
    h(
      'p',
      { class: 'side-foot' },
      h('a', { href: '/api/docs', target: '_blank', rel: 'noopener noreferrer' }, 'REST API docs'),
    ),
  );

  const outlet = h('main', { class: 'outlet', id: 'main' });
  const el = h('div', { class: 'shell' }, topbar, h('div', { class: 'shell-body' }, sidebar, outlet));

  let active = { view: 'rooms', roomId: null };
  const renderRooms = () => {
    const items = ctx.rooms.rooms.map((room) => {
      const current = active.view === 'chat' && active.roomId === room.id;
      return h(
        'li',
        {},
        h(
          'a',
          { class: 'side-room', href: `#/room/${encodeURIComponent(room.id)}`, 'aria-current': current ? 'page' : null },
          h('span', { class: 'side-hash', 'aria-hidden': 'true' }, '#'),
          h('span', { class: 'side-name' }, room.name),
        ),
      );
    });
    if (ctx.rooms.loaded && items.length === 0) {
      items.push(h('li', { class: 'side-empty' }, 'No rooms yet'));
    }
    roomList.replaceChildren(...items);
  };
  ctx.rooms.addEventListener('change', renderRooms);
  renderRooms();

  return {
    el,
    outlet,
    setActive(view, roomId = null) {
      active = { view, roomId };
      el.dataset.view = view;
      renderRooms();
    },
    destroy() {
      connection.destroy();
      ctx.rooms.removeEventListener('change', renderRooms);
      el.remove();
    },
  };
}
