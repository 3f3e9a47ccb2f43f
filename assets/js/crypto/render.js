// A decrypted message as DOM nodes, and what stands in for one that cannot be
// read.
//
// The server never sees the text of an encrypted message, so it cannot render
// or sanitize it: this is the only layer, and it builds every node with
// createElement and text nodes, never from an HTML string. The text may use a
// small, safe subset of formatting: paragraphs (a blank line), line breaks,
// `inline code` and **bold**; http(s) URLs become links that open in a new tab
// without opener or referrer (format.js `linkify`). Anything else, markup
// included, shows as the characters typed.

import { h, icon } from '../dom.js';
import { linkify } from '../format.js';

export const WAITING_TEXT = 'Waiting for a member to share the room key';
export const NOT_GIVEN_TEXT = 'Encrypted with a key you were not given';

/** `code` spans and **bold**, on one line. */
const INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;

/**
 * The message's text or its placeholder, ready to append. `message.e2e` is
 * set by the room session (room-session.js): 'ok' (its `body` is the
 * decrypted text), 'waiting' (a key of the room's current version is on its
 * way), 'not_given' (a key version this user does not hold), 'damaged'.
 */
export function renderDecrypted(message) {
  const fragment = document.createDocumentFragment();
  if (message.e2e !== 'ok') {
    // 'damaged' reads as 'not_given': the key held for its version does not open it (a version
    // made again after everyone holding it reset, or a blob that was tampered with).
    const text = message.e2e === 'waiting' ? WAITING_TEXT : NOT_GIVEN_TEXT;
    fragment.append(
      h('p', { class: `msg-e2e-note msg-e2e-${message.e2e}` }, icon(message.e2e === 'waiting' ? 'clock' : 'shieldLock'), text),
    );
    return fragment;
  }
  const paragraphs = String(message.body ?? '')
    .split(/\n[ \t]*\n/)
    .map((block) => block.replace(/^\n+|\n+$/g, ''))
    .filter((block) => block.trim() !== '');
  for (const block of paragraphs) {
    const p = h('p', {});
    block.split('\n').forEach((line, index) => {
      if (index > 0) p.append(h('br', {}));
      p.append(...inline(line));
    });
    fragment.append(p);
  }
  return fragment;
}

/** One line: code spans and bold, links in the rest. */
function inline(line) {
  const nodes = [];
  let last = 0;
  for (const match of line.matchAll(INLINE)) {
    if (match.index > last) nodes.push(...linkify(line.slice(last, match.index)));
    if (match[1] !== undefined) nodes.push(h('code', {}, match[1]));
    else nodes.push(h('strong', {}, ...linkify(match[2])));
    last = match.index + match[0].length;
  }
  if (last < line.length) nodes.push(...linkify(line.slice(last)));
  return nodes;
}
