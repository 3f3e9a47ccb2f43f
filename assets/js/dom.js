// Tiny DOM helpers. Every piece of the UI is built with createElement and
// text nodes, never from HTML strings: data from the server (message bodies,
// room and user names) can therefore never become markup, and the strict
// Content-Security-Policy needs no exceptions.

/**
 * Creates an element.
 *
 * `props` keys:
 * - `class`: className; `text`: textContent;
 * - `on<event>`: an event listener (e.g. `onclick`);
 * - `dataset`: an object copied into `el.dataset`;
 * - anything else: an attribute (`true` sets it empty, `false`/null skips it).
 *
 * Children may be nodes, strings (become text nodes), arrays, or null.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
}

/** Appends children (nodes, strings, nested arrays; null is skipped). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces all children of `parent`. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// Icon outlines (24x24, stroke based). Constant path data only.
const ICONS = {
  send: ['M22 2 11 13', 'M22 2 15 22 11 13 2 9 22 2z'],
  hash: ['M4 9h16', 'M4 15h16', 'M10 3 8 21', 'M16 3l-2 18'],
  back: ['M15 18l-6-6 6-6'],
  users: [
    'M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2',
    'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z',
    'M23 21v-2a4 4 0 0 0-3-3.87',
    'M16 3.13a4 4 0 0 1 0 7.75',
  ],
  logout: ['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'M16 17l5-5-5-5', 'M21 12H9'],
  trash: ['M3 6h18', 'M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6', 'M10 11v6', 'M14 11v6', 'M9 6V4h6v2'],
  plus: ['M12 5v14', 'M5 12h14'],
  clock: ['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M12 6v6l4 2'],
  arrowDown: ['M12 5v14', 'M19 12l-7 7-7-7'],
  close: ['M18 6 6 18', 'M6 6l12 12'],
  alert: ['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M12 8v4', 'M12 16h.01'],
  chat: ['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z'],
  lock: ['M6 11h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1z', 'M8 11V7a4 4 0 0 1 8 0v4'],
  link: [
    'M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71',
    'M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71',
  ],
  userPlus: [
    'M16 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2',
    'M8.5 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z',
    'M20 8v6',
    'M23 11h-6',
  ],
  reply: ['M9 14 4 9l5-5', 'M4 9h10a6 6 0 0 1 6 6v5'],
  smile: ['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M8 14s1.5 2 4 2 4-2 4-2', 'M9 9h.01', 'M15 9h.01'],
  edit: ['M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z', 'M14.5 5.5l3 3'],
  search: ['M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16z', 'M21 21l-4.35-4.35'],
  key: ['M21 2l-2 2m-7.61 7.61a5.5 5.5 0 1 1-7.778 7.778 5.5 5.5 0 0 1 7.777-7.777zm0 0L15.5 7.5m0 0l3 3L22 7l-3-3m-3.5 3.5L19 4'],
  copy: ['M9 9h11a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-9a2 2 0 0 1-2-2z', 'M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1'],
  bell: ['M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9', 'M13.73 21a2 2 0 0 1-3.46 0'],
  userMinus: [
    'M16 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2',
    'M8.5 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z',
    'M23 11h-6',
  ],
  paperclip: ['M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48'],
  file: ['M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z', 'M14 2v6h6'],
  download: ['M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4', 'M7 10l5 5 5-5', 'M12 15V3'],
  upload: ['M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4', 'M17 8l-5-5-5 5', 'M12 3v12'],
  // A lock on a shield: end-to-end encrypted rooms.
  shieldLock: [
    'M12 2l8 3v6c0 5-3.4 9.4-8 11-4.6-1.6-8-6-8-11V5z',
    'M9 11.5h6v4.5H9z',
    'M10.25 11.5V10a1.75 1.75 0 0 1 3.5 0v1.5',
  ],
};

/**
 * The glyph in front of a room's name: a lock on a shield (labelled
 * "End-to-end encrypted") for encrypted rooms, a lock (labelled "Private
 * room") for other private rooms, an "@" for direct messages, "#" for public
 * rooms.
 */
export function roomGlyph(room, cls) {
  if (room.encrypted) return encryptedBadge(`${cls} room-lock room-e2e`);
  if (room.kind === 'private') {
    return h('span', { class: `${cls} room-lock`, role: 'img', 'aria-label': 'Private room', title: 'Private room' }, icon('lock'));
  }
  return h('span', { class: cls, 'aria-hidden': 'true' }, room.kind === 'direct' ? '@' : '#');
}

/** The lock-on-a-shield mark of an end-to-end encrypted room, labelled for assistive technology. */
export function encryptedBadge(cls = 'e2e-badge') {
  const label = 'End-to-end encrypted';
  return h('span', { class: cls, role: 'img', 'aria-label': label, title: label }, icon('shieldLock'));
}

/** An inline SVG icon, hidden from assistive technology (pair it with a label). */
export function icon(name, cls = '') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon ${cls}`.trim());
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** A round avatar with the user's initial; the colour is derived from the name. */
export function avatar(username, size = '') {
  const initial = (username || '?').charAt(0).toUpperCase();
  return h('span', { class: `avatar ${size} hue-${hueIndex(username)}`, 'aria-hidden': 'true' }, initial);
}

function hueIndex(name) {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 8;
}
