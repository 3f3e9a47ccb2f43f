// The landing page: one field to join a room by name (or create it when no
// live room has that name), buttons for a new private room or direct message,
// then the user's rooms, their direct messages and the public rooms they can
// join, each most recently active first.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { setTitle } from '../title.js';
import { toast } from '../toast.js';
import { newDmDialog, newPrivateRoomDialog } from './new-conversation.js';
import { roomItem } from './room-cards.js';

const MAX_NAME = 64;
const RELATIVE_TICK_MS = 30_000;

/** The landing page's lists: which rooms, and what to say when there are none. */
const SECTIONS = [
  {
    id: 'my-rooms',
    title: 'Your rooms',
    rooms: (store) => store.myRooms,
    empty: ['No rooms yet', 'Join one below, or type a name above to start one.'],
  },
  {
    id: 'my-dms',
    title: 'Direct messages',
    rooms: (store) => store.directs,
    empty: ['No direct messages yet', 'Start one with “New direct message”, or click someone’s name in a room.'],
  },
  {
    id: 'browse-rooms',
    title: 'Public rooms to join',
    rooms: (store) => store.browsable,
    empty: ['Nothing new to join', 'You are in every public room on this server.'],
  },
];

/** @param ctx { user, rooms, navigate } */
export function mountRooms(outlet, ctx) {
  setTitle('Rooms · confab');

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
    const makePrivate = h('button', { class: 'btn btn-ghost', type: 'button' }, icon('lock'), 'Make it private');
    const cancel = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Cancel');
    create.addEventListener('click', () => createRoom(name, create));
    makePrivate.addEventListener('click', () => newPrivateRoomDialog(ctx, name));
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
        ' yet. Create it? Anyone on this server can join it, unless you make it private.',
      ),
      h('div', { class: 'offer-actions' }, create, makePrivate, cancel),
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

  const newPrivate = h('button', { class: 'btn btn-ghost', type: 'button' }, icon('lock'), 'New private room');
  const newDm = h('button', { class: 'btn btn-ghost', type: 'button' }, icon('chat'), 'New direct message');
  newPrivate.addEventListener('click', () => newPrivateRoomDialog(ctx));
  newDm.addEventListener('click', () => newDmDialog(ctx));
  const startActions = h('div', { class: 'start-actions' }, newPrivate, newDm);

  const join = async (room, button) => {
    button.disabled = true;
    try {
      const joined = await api.joinRoom(room.id);
      ctx.rooms.upsert({ ...joined, is_member: true });
      ctx.navigate(`#/room/${encodeURIComponent(room.id)}`);
    } catch (error) {
      button.disabled = false;
      if (error.status === 404) ctx.rooms.remove(room.id);
      toast(error.status === 404 ? `#${room.name} does not exist any more.` : error.message, 'error');
    }
  };

  const sections = SECTIONS.map((section) => {
    const count = h('span', { class: 'count' });
    const list = h('ul', { class: 'room-list', 'aria-labelledby': `${section.id}-title` });
    const el = h(
      'section',
      { class: 'rooms-section', id: section.id },
      h('div', { class: 'section-head' }, h('h2', { id: `${section.id}-title` }, section.title), count),
      list,
    );
    return { ...section, el, count, list };
  });

  const renderList = () => {
    const now = new Date();
    for (const section of sections) {
      const rooms = section.rooms(ctx.rooms);
      section.count.textContent = ctx.rooms.loaded ? String(rooms.length) : '';
      if (!ctx.rooms.loaded) {
        section.list.replaceChildren(
          h('li', { class: 'room-empty' }, ctx.rooms.error ? ctx.rooms.error.message : 'Loading rooms…'),
        );
      } else if (rooms.length === 0) {
        const [title, text] = section.empty;
        section.list.replaceChildren(
          h('li', { class: 'room-empty' }, h('strong', {}, title), h('span', {}, text)),
        );
      } else {
        section.list.replaceChildren(...rooms.map((room) => roomItem(room, now, ctx.user.username, join)));
      }
    }
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
    startActions,
    sections.map((section) => section.el),
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
