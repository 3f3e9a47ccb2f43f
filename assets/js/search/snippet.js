// A search hit's snippet as DOM nodes.
//
// The server sends the snippet as HTML: the message text escaped, each match
// wrapped in `<mark>…</mark>`, nothing else. It is still never given to
// innerHTML: the string is cut at the literal `<mark>` and `</mark>` tags, and
// every piece in between is decoded (`&lt;` back to `<`) in a detached
// document and taken as text. Whatever else a server bug might put in the
// string shows as text or disappears; it never becomes markup on the page.

import { h } from '../dom.js';

const MARK = /(<mark>|<\/mark>)/;

/** The snippet as text nodes and `<mark>` elements, ready to append. */
export function snippetNodes(html) {
  const nodes = [];
  let inMark = false;
  for (const piece of String(html ?? '').split(MARK)) {
    if (piece === '<mark>') inMark = true;
    else if (piece === '</mark>') inMark = false;
    else if (piece) {
      const text = decode(piece);
      if (text) nodes.push(inMark ? h('mark', {}, text) : document.createTextNode(text));
    }
  }
  return nodes;
}

/**
 * HTML-escaped text back to text, in a document of its own (no script runs,
 * nothing loads there). The leading `<body>` puts the parser in the body at
 * once: before it, leading spaces would be dropped as the whitespace between
 * `<html>` and `<head>`.
 */
function decode(escaped) {
  return new DOMParser().parseFromString(`<body>${escaped}`, 'text/html').body.textContent ?? '';
}
