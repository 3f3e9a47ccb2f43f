// The actions of one message (reply, react, edit, delete) as a small toolbar
// that shows on hover, on keyboard focus, and after a long press on a touch
// screen.
//
// The toolbar is one Tab stop (a roving tabindex, the arrow keys move between
// its buttons), so tabbing through a long history does not stop four times
// per message.

import { h, icon } from '../dom.js';

const LONG_PRESS_MS = 500;
/** A finger that moves further than this is scrolling, not pressing. */
const LONG_PRESS_SLOP_PX = 10;

/**
 * @param author   whose message it is (for the labels)
 * @param actions  which buttons: { reply, react, edit, remove }, each a click handler or null
 * @returns the toolbar element, or null when no action applies (a tombstone)
 */
export function createActionBar(author, { reply, react, edit, remove }) {
  const buttons = [
    // Labels without the author's name: the toolbar's own label says whose message it is, and a
    // control named after a person would be mistaken for the author's name button.
    reply && button('reply', 'Reply', 'Reply', reply),
    react && button('smile', 'Add reaction', 'Add reaction', react, { 'aria-haspopup': 'dialog' }),
    edit && button('edit', 'Edit message', 'Edit', edit),
    remove && button('trash', 'Delete message', 'Delete', remove, { class: 'msg-action msg-action-danger' }),
  ].filter(Boolean);
  if (buttons.length === 0) return null;
  buttons.forEach((b, i) => b.setAttribute('tabindex', i === 0 ? '0' : '-1'));
  const bar = h('div', { class: 'msg-actions', role: 'toolbar', 'aria-label': `Actions for ${author}’s message` }, buttons);
  bar.addEventListener('keydown', (event) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const next = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: buttons.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const target = buttons[(next + buttons.length) % buttons.length];
    buttons[at].setAttribute('tabindex', '-1');
    target.setAttribute('tabindex', '0');
    target.focus();
  });
  return bar;
}

function button(iconName, label, title, onClick, extra = {}) {
  const b = h('button', { class: 'msg-action', type: 'button', 'aria-label': label, title, ...extra }, icon(iconName));
  b.addEventListener('click', (event) => onClick(b, event));
  return b;
}

/**
 * Long press on a message (touch only) opens its toolbar, as hover does with a
 * mouse; a tap elsewhere closes it. Delegated: one set of listeners for the
 * whole history. Returns { destroy }.
 */
export function enableLongPress(container) {
  let timer = 0;
  let origin = null;
  let opened = null;
  let suppressMenu = false;
  const cancel = () => {
    clearTimeout(timer);
    origin = null;
  };
  const close = () => {
    opened?.classList.remove('actions-open');
    opened = null;
  };
  const onDown = (event) => {
    if (event.pointerType !== 'touch') return;
    const row = event.target.closest('.msg[data-id]');
    if (!row || !row.querySelector('.msg-actions') || event.target.closest('a, button, textarea, input')) return;
    cancel();
    origin = { x: event.clientX, y: event.clientY };
    timer = setTimeout(() => {
      close();
      row.classList.add('actions-open');
      opened = row;
      suppressMenu = true;
      navigator.vibrate?.(10);
    }, LONG_PRESS_MS);
  };
  const onMove = (event) => {
    if (origin && Math.hypot(event.clientX - origin.x, event.clientY - origin.y) > LONG_PRESS_SLOP_PX) cancel();
  };
  // The browser's own long-press menu (copy, select) would cover the toolbar.
  const onMenu = (event) => {
    if (suppressMenu || origin) event.preventDefault();
    suppressMenu = false;
  };
  const onOutside = (event) => {
    if (opened && !opened.contains(event.target)) close();
  };
  container.addEventListener('pointerdown', onDown);
  container.addEventListener('pointermove', onMove, { passive: true });
  container.addEventListener('pointerup', cancel);
  container.addEventListener('pointercancel', cancel);
  container.addEventListener('contextmenu', onMenu);
  document.addEventListener('pointerdown', onOutside, true);
  return {
    /** Closes an open toolbar (e.g. after one of its actions ran). */
    close,
    destroy() {
      cancel();
      document.removeEventListener('pointerdown', onOutside, true);
    },
  };
}
