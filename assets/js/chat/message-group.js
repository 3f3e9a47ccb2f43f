// The frame around consecutive messages of one sender in the history: the
// avatar, a header with the author (a button that messages them, unless it is
// the reader) or the webhook's name, a "bot" badge where it applies, and the
// time of the first message; the rows go under it.

import { botBadge, isBot } from '../bots.js';
import { avatar, h } from '../dom.js';
import { formatFull, formatMessageTime, parseDate } from '../format.js';
import { shownAuthor } from './message-row.js';

/**
 * A group starting with `message`, whose row element is `row`.
 * @param opts.me       the signed-in username (their own name is not a button)
 * @param opts.onAuthor (username) => void, when someone's name is clicked; null: names are text
 * @returns { el, rows }: the group, and the element later rows of the group go into
 */
export function messageGroup(message, row, { me, onAuthor }) {
  const sentAt = parseDate(message.sent_at);
  const rows = h('div', { class: 'msg-rows' }, row);
  const el = h(
    'article',
    { class: 'msg-group', dataset: message.webhook ? { webhook: message.webhook.id } : { author: message.author } },
    avatar(shownAuthor(message)),
    h(
      'div',
      { class: 'msg-group-main' },
      h(
        'header',
        { class: 'msg-head' },
        message.webhook
          ? webhookName(message)
          : [authorName(message.author, me, onAuthor), isBot(message.author) ? botBadge() : null],
        h('time', { class: 'msg-time', datetime: message.sent_at, title: formatFull(sentAt) }, formatMessageTime(sentAt)),
      ),
      rows,
    ),
  );
  return { el, rows };
}

/** Adds the "bot" badge to the headers in `list` of authors that turned out to be bots (webhook groups have theirs). */
export function markBots(list) {
  for (const group of list.querySelectorAll('.msg-group')) {
    const head = group.querySelector('.msg-head');
    if (!head || head.querySelector('.tag-bot') || !isBot(group.dataset.author)) continue;
    head.querySelector('.msg-author')?.after(botBadge());
  }
}

/** The author's name; a button that messages them, unless it is the reader's own name. */
function authorName(author, me, onAuthor) {
  if (!onAuthor || author === me) return h('span', { class: 'msg-author' }, author);
  const button = h(
    'button',
    { class: 'msg-author msg-author-btn', type: 'button', title: `Send ${author} a direct message` },
    author,
  );
  button.addEventListener('click', () => onAuthor(author));
  return button;
}

/**
 * A webhook's name with the bot badge, both saying who added the webhook: the
 * message is theirs on the server, but no person typed it.
 */
function webhookName(message) {
  const via = `via webhook, added by ${message.author}`;
  const badge = botBadge();
  badge.title = via;
  return [
    h('span', { class: 'msg-author msg-author-webhook', title: via }, message.webhook.name),
    badge,
    h('span', { class: 'sr-only' }, ` (${via})`),
  ];
}
