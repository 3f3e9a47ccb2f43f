// A message's text as DOM nodes.
//
// The server renders every body from CommonMark and sanitizes it (the `html`
// field: raw HTML escaped, only http, https and mailto links, images shown as
// links). That is the protection; this module adds a second, independent one
// so a server bug alone cannot put script on the page:
// - the string is parsed into a separate document (DOMParser: no script runs,
//   no image loads; an event handler attribute is refused by the CSP, which
//   Chromium reports as a violation, so a sanitizer miss shows in tests);
// - only the elements and attributes the server is meant to produce are kept:
//   anything else becomes its plain text, event handlers and styles are gone;
// - a link must be absolute http(s) or mailto, and opens in a new tab without
//   an opener or referrer.
// The strict CSP (no inline script) is the third layer.

import { renderDecrypted } from '../crypto/render.js';
import { h } from '../dom.js';
import { linkify } from '../format.js';

/** Element (upper case) -> the attributes it may keep. */
const ALLOWED = new Map([
  ['A', ['href', 'title']],
  ['BLOCKQUOTE', []],
  ['BR', []],
  ['CODE', ['class']],
  ['DEL', []],
  ['EM', []],
  ['HR', []],
  ['LI', []],
  ['OL', ['start']],
  ['P', []],
  ['PRE', []],
  ['STRONG', []],
  ['UL', []],
]);
/** Dropped with their content: their text is code or markup, never message text. */
const DROP = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'IFRAME', 'OBJECT', 'EMBED']);
const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
const LANGUAGE_CLASS = /^language-[\w+#.-]{1,32}$/;
const LINK_REL = 'noopener noreferrer nofollow';
/** Block elements: their text is separated by a space in an excerpt. */
const BLOCKS = 'br, p, li, pre, blockquote, hr';

/**
 * The message text, ready to append: the server's `html` when present, else
 * the body as one paragraph of text (the server leaves `html` out when the
 * body has no Markdown), its URLs made links for a server that predates
 * Markdown.
 */
export function renderBody(message) {
  // End-to-end encrypted: decrypted in this browser, never parsed as HTML (crypto/render.js).
  if (message.e2e) return renderDecrypted(message);
  const fragment = document.createDocumentFragment();
  if (typeof message.html !== 'string') {
    const body = message.body ?? '';
    if (body !== '') fragment.append(h('p', {}, ...linkify(body)));
    return fragment;
  }
  const root = new DOMParser().parseFromString(message.html, 'text/html').body;
  clean(root);
  // Newlines between blocks are markup formatting, not text.
  for (const node of [...root.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE && node.data.trim() === '') node.remove();
  }
  for (const node of root.childNodes) fragment.append(document.importNode(node, true));
  return fragment;
}

/**
 * The start of a message as one line of plain text (for quotes, the reply bar
 * and notifications); a message of files alone names them: "📎 chart.png".
 */
export function excerpt(message, max = 100) {
  const holder = document.createElement('div');
  holder.append(renderBody(message));
  for (const block of holder.querySelectorAll(BLOCKS)) block.after(' ');
  let text = holder.textContent.replace(/\s+/g, ' ').trim();
  if (text === '' && Array.isArray(message.attachments) && message.attachments.length > 0) {
    text = `📎 ${message.attachments.map((a) => String(a.name)).join(', ')}`;
  }
  return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
}

function clean(parent) {
  for (const node of [...parent.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE) continue;
    if (node.nodeType !== Node.ELEMENT_NODE || DROP.has(node.tagName)) {
      node.remove();
      continue;
    }
    const allowed = ALLOWED.get(node.tagName);
    if (!allowed) {
      node.replaceWith(node.textContent);
      continue;
    }
    for (const { name } of [...node.attributes]) if (!allowed.includes(name)) node.removeAttribute(name);
    if (node.tagName === 'CODE' && !LANGUAGE_CLASS.test(node.getAttribute('class') ?? '')) {
      node.removeAttribute('class');
    }
    clean(node);
    if (node.tagName === 'A') fixLink(node);
  }
}

/** Keeps a link only with a safe absolute URL; its text stays either way. */
function fixLink(a) {
  const href = (a.getAttribute('href') ?? '').trim();
  if (!SAFE_LINK.test(href) || !isSafeUrl(href)) {
    a.replaceWith(...a.childNodes);
    return;
  }
  a.setAttribute('target', '_blank');
  a.setAttribute('rel', LINK_REL);
}

function isSafeUrl(value) {
  try {
    return ['http:', 'https:', 'mailto:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
