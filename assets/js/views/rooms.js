// The landing page: one field to join a room by name (or create it when no
// live room has that name) and the list of live rooms, most recently active first.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { formatAgo, formatExpiresIn, formatFull, parseDate } from '../format.js';

const MAX_NAME = 64;
const RELATIVE_TICK_MS = 30_000;

/** @param ctx { user, rooms, navigate } */
export function mountRooms(outlet, ctx) {
  document.title = 'Rooms · confab';

  const input = h('input', {
    id: 'join-name',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: MAX_NAME,
    placeholder: 'e.g. design-review',
    'aria-describedby': 'join-help',
  });
  const joinButton = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Join');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const offer = h('div', { class: 'join-offer', role: 'region', 'aria-label': 'Create room', hidden: true });

  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  const createRoom = async (name, button) => {
    button.disabled = true;
    showError('');
    try {
      const room = await api.createRoom(name);
      ctx.rooms.upsert(room);
      ctx.navigate(`#/room/${encodeURIComponent(room.id)}`);
    } catch (e) {
      if (e.code === 'room_name_taken') {
        // Someone created it meanwhile: join theirs.
        await ctx.rooms.refresh();
        const room = ctx.rooms.findByName(name);
        if (room) {
          ctx.navigate(`#/room/${encodeURIComponent(room.id)}`);
          return;
        }
      }
      showError(e.message || 'Could not create the room.');
      button.disabled = false;
    }
  };

  const showOffer = (name) => {
    const create = h('button', { class: 'btn btn-primary', type: 'button' }, icon('plus'), `Create “${name}”`);
    const cancel = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Cancel');
    create.addEventListener('click', () => createRoom(name, create));
    cancel.addEventListener('click', () => {
      offer.hidden = true;
      input.focus();
    });
    offer.replaceChildren(
      h(
        'p',
        {},
        'There is no live room called ',
        h('strong', {}, name),
        ' yet. Create it? Anyone on this server can join it.',
      ),
      h('div', { class: 'offer-actions' }, create, cancel),
    );
    offer.hidden = false;
    create.focus();
  };

  const onSubmit = async (event) => {
    event.preventDefault();
    offer.hidden = true;
    showError('');
    const name = input.value.trim();
    if (!name) {
      showError('Type the name of a room to join or create.');
      input.focus();
      return;
    }
    // Control characters are rejected by the server; say so before asking it.
    if ([...name].length > MAX_NAME || /\p{Cc}/u.test(name)) {
      showError(`Room names are 1 to ${MAX_NAME} characters, without control characters.`);
      return;
    }
    joinButton.disabled = true;
    await ctx.rooms.refresh();
    joinButton.disabled = false;
    const room = ctx.rooms.findByName(name);
    if (room) ctx.navigate(`#/room/${encodeURIComponent(room.id)}`);
    else if (ctx.rooms.error) showError(ctx.rooms.error.message);
    else showOffer(name);
  };
  input.addEventListener('input', () => {
    offer.hidden = true;
    showError('');
  });

  const joinCard = h(
    'section',
    { class: 'card join-card', 'aria-labelledby': 'join-title' },
    h('h2', { id: 'join-title', class: 'card-title' }, 'Jump into a conversation'),
    h(
      'form',
      { class: 'join-form', onsubmit: onSubmit },
      h('label', { for: 'join-name', class: 'join-label' }, 'Join a room by name'),
      h(
        'div',
        { class: 'input-group' },
        h('span', { class: 'input-prefix', 'aria-hidden': 'true' }, '#'),
        input,
        joinButton,
      ),
      h(
        'p',
        { id: 'join-help', class: 'field-hint' },
        'Joins the live room with that name, or offers to create it. Rooms expire automatically.',
      ),
      error,
      offer,
    ),
  );

  const count = h('span', { class: 'count' });
  const list = h('ul', { class: 'room-list', 'aria-labelledby': 'live-rooms-title' });
  const listSection = h(
    'section',
    { class: 'rooms-section' },
    h('div', { class: 'section-head' }, h('h2', { id: 'live-rooms-title' }, 'Live rooms'), count),
    list,
  );

  const renderList = () => {
    const { rooms } = ctx.rooms;
    count.textContent = ctx.rooms.loaded ? String(rooms.length) : '';
    if (!ctx.rooms.loaded) {
      list.replaceChildren(h('li', { class: 'room-empty' }, ctx.rooms.error ? ctx.rooms.error.message : 'Loading rooms…'));
      return;
    }
    if (rooms.length === 0) {
      list.replaceChildren(
        h(
          'li',
          { class: 'room-empty' },
          h('span', { class: 'empty-icon' }, icon('chat')),
          h('strong', {}, 'No live rooms yet'),
          h('span', {}, 'Type a name above to start the first one.'),
        ),
      );
      return;
    }
    const now = new Date();
    list.replaceChildren(...rooms.map((room) => roomItem(room, now)));
  };

  const page = h(
    'div',
    { class: 'page rooms-page' },
    h(
      'header',
      { class: 'page-head' },
      h('h1', {}, `Hi ${ctx.user.username}`),
      h('p', { class: 'page-lead' }, 'Pick up a conversation or start a new one.'),
    ),
    joinCard,
    listSection,
  );

  ctx.rooms.addEventListener('change', renderList);
  renderList();
  ctx.rooms.refresh();
  const ticker = setInterval(renderList, RELATIVE_TICK_MS);
  outlet.replaceChildren(page);
  if (matchMedia('(min-width: 760px)').matches) input.focus();

  return {
    destroy() {
      clearInterval(ticker);
      ctx.rooms.removeEventListener('change', renderList);
      page.remove();
    },
  };
}

function roomItem(room, now) {
  const activeAt = room.last_active_at ?? room.created_at;
  const expiresSoon = parseDate(room.expires_at).getTime() - now.getTime() < 24 * 3600 * 1000;
  return h(
    'li',
    {},
    h(
      'a',
      { class: 'room-card', href: `#/room/${encodeURIComponent(room.id)}` },
      h('span', { class: 'room-icon', 'aria-hidden': 'true' }, '#'),
      h(
        'span',
        { class: 'room-main' },
        h('span', { class: 'room-name' }, room.name),
        h(
          'span',
          { class: 'room-meta' },
          'by ',
          h('span', { class: 'room-creator' }, room.created_by),
          ' · ',
          h('time', { datetime: room.created_at, title: formatFull(parseDate(room.created_at)) }, `created ${formatAgo(room.created_at, now)}`),
        ),
      ),
      h(
        'span',
        { class: 'room-side' },
        h(
          'span',
          { class: `room-expiry${expiresSoon ? ' soon' : ''}`, title: `Expires ${formatFull(parseDate(room.expires_at))}` },
          icon('clock'),
          formatExpiresIn(room.expires_at, now),
        ),
        h(
          'span',
          { class: 'room-active' },
          activeAt === room.created_at ? 'no messages yet' : `active ${formatAgo(activeAt, now)}`,
        ),
      ),
    ),
  );
}
