// One search hit in the results list: a link to the message in its room
// (`#/room/<room>/message/<message>`, which opens the room scrolled to it and
// flashes it), with the room, the author, the date and time, and the snippet
// with its matches marked.

import { avatar, h, roomGlyph } from '../dom.js';
import { formatFull, formatMessageTime, parseDate } from '../format.js';
import { roomLabel } from '../views/chat-text.js';
import { snippetNodes } from './snippet.js';

/** Where a hit leads: its room, at its message. */
export function hitHash(hit) {
  return `#/room/${encodeURIComponent(hit.room.id)}/message/${encodeURIComponent(hit.message.id)}`;
}

/**
 * @param hit     `{ message, room, snippet }` from GET /api/search
 * @param me      the signed-in username (direct rooms are named after the others)
 * @param onOpen  (hit, event) => void, when the link is followed
 */
export function hitItem(hit, me, onOpen) {
  const { message, room } = hit;
  const sentAt = parseDate(message.sent_at);
  const author = message.webhook ? message.webhook.name : message.author;
  const snippet = snippetNodes(hit.snippet);
  const link = h(
    'a',
    { class: 'search-hit', href: hitHash(hit), dataset: { room: room.id, message: message.id } },
    h(
      'span',
      { class: 'search-hit-head' },
      roomGlyph(room, 'search-hit-glyph'),
      h('span', { class: 'search-hit-room' }, roomLabel(room, me).replace(/^#/, '')),
      h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'),
      avatar(author, 'avatar-xs'),
      h('span', { class: 'search-hit-author' }, author),
      h(
        'time',
        { class: 'search-hit-time', datetime: message.sent_at, title: formatFull(sentAt) },
        formatMessageTime(sentAt),
      ),
    ),
    // A server that sent no snippet: the body as plain text.
    h('span', { class: 'search-hit-snippet' }, snippet.length ? snippet : message.body ?? ''),
  );
  link.addEventListener('click', (event) => onOpen(hit, event));
  return h('li', { class: 'search-hit-item' }, link);
}
