// The chat screen's words: the notice that replaces it when its room is missing or
// lost, the marker at the beginning of a room, and a room's label.

import { h, icon } from '../dom.js';
import { roomTitle } from '../rooms-store.js';
import { setTitle } from '../title.js';

/** Replaces the page with a notice (room missing, access lost) and a way back. */
export function showNotice(page, title, text, retry) {
  setTitle(`${title} · confab`);
  const actions = [h('a', { class: 'btn btn-primary', href: '#/rooms' }, 'Back to rooms')];
  if (retry) {
    const again = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Try again');
    again.addEventListener('click', retry);
    actions.unshift(again);
  }
  page.replaceChildren(
    h(
      'div',
      { class: 'empty-state', role: 'alert' },
      h('span', { class: 'empty-icon' }, icon('alert')),
      h('h1', {}, title),
      h('p', {}, text),
      h('div', { class: 'empty-actions' }, actions),
    ),
  );
}

/** The "beginning of the room" marker's wording for each kind of room. */
export function startText(room, me) {
  const sealed = room.encrypted ? ' Messages here are end-to-end encrypted: only members’ browsers can read them.' : '';
  if (room.kind === 'direct') {
    return {
      glyph: '@',
      title: `Your conversation with ${roomTitle(room, me)}`,
      text: `Only the people in this conversation can see it.${sealed} Say hello!`,
    };
  }
  if (room.kind === 'private') {
    return {
      title: `Welcome to #${room.name}`,
      text: `This is the very beginning of this private room: only its members can see it.${sealed}`,
    };
  }
  return { title: `Welcome to #${room.name}`, text: 'This is the very beginning of the room. Say hello!' };
}

/** "#general" or, for a direct room, the other people's names. */
export function roomLabel(room, me) {
  return room.kind === 'direct' ? roomTitle(room, me) : `#${room.name}`;
}
