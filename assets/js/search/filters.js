// The search filters as chips under the field: one for each `from:`, `in:`,
// `before:` and `after:` term typed in the query, one for a room picked with
// "In this room", and, while a room is open and no room is picked, a chip
// that offers to search only there. Removing a chip takes its term out of the
// query (the caller runs it again).

import { h, icon } from '../dom.js';
import { roomLabel } from '../views/chat-text.js';
import { filterTerms } from './query.js';

/**
 * The chips for a query, to put in a list.
 * @param opts.query        the text of the field
 * @param opts.pickedRoom   the room the search is limited to (the `room` parameter), or null
 * @param opts.openRoom     the room open in the chat, offered as a filter, or null
 * @param opts.me           the signed-in username
 * @param opts.onRemoveTerm (start) => void: the term starting there is removed
 * @param opts.onRemoveRoom () => void: the picked room is removed
 * @param opts.onPickRoom   () => void: the open room is picked
 * @returns `<li>` elements
 */
export function filterChips({ query, pickedRoom, openRoom, me, onRemoveTerm, onRemoveRoom, onPickRoom }) {
  const chips = filterTerms(query).map((term) =>
    chip(`${term.key}:`, term.value, `Remove filter ${term.text}`, () => onRemoveTerm(term.start)),
  );
  if (pickedRoom) {
    const label = roomLabel(pickedRoom, me);
    chips.push(chip('in:', label, `Remove filter in ${label}`, onRemoveRoom));
  } else if (openRoom && !filterTerms(query).some((term) => term.key === 'in')) {
    const label = roomLabel(openRoom, me);
    const add = h(
      'button',
      { class: 'chip chip-suggest', type: 'button', title: `Search only in ${label}` },
      icon('plus'),
      h('span', {}, `In ${label}`),
    );
    add.addEventListener('click', onPickRoom);
    chips.push(h('li', {}, add));
  }
  return chips;
}

function chip(key, value, removeLabel, onRemove) {
  const remove = h(
    'button',
    { class: 'chip-remove', type: 'button', 'aria-label': removeLabel, title: removeLabel },
    icon('close'),
  );
  remove.addEventListener('click', onRemove);
  return h(
    'li',
    { class: 'chip search-chip' },
    h('span', { class: 'search-chip-key' }, key),
    h('span', { class: 'chip-name' }, value),
    remove,
  );
}
