// The room header's notification menu: which new messages of this room
// concern the reader (all, only mentions, nothing). A menu button with three
// radio items showing the current level; picking one saves it on the server.
//
// Keyboard: the button opens the menu on the checked item; ArrowDown/ArrowUp
// (Home/End) move, Enter/Space pick, Escape or Tab close it.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { toast } from '../toast.js';

const LEVELS = [
  { level: 'all', label: 'All messages', hint: 'Every new message in this room' },
  { level: 'mentions', label: 'Mentions', hint: 'Only messages that mention you or @room' },
  { level: 'none', label: 'Nothing', hint: 'This room is muted' },
];

/**
 * @param onChange (level) => void, once the server saved a new level
 * @returns { el, setRoom(room), setDisabled(bool), close() }
 */
export function createNotifyMenu(onChange) {
  const button = h(
    'button',
    {
      class: 'icon-btn notify-toggle',
      type: 'button',
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
      'aria-controls': 'notify-menu',
      hidden: true,
    },
    icon('bell'),
  );
  const items = LEVELS.map(({ level, label, hint }) =>
    h(
      'button',
      { class: 'notify-item', type: 'button', role: 'menuitemradio', 'aria-checked': 'false', tabindex: '-1', dataset: { level } },
      h('span', { class: 'notify-check', 'aria-hidden': 'true' }),
      h('span', { class: 'notify-text' }, h('span', { class: 'notify-label' }, label), h('span', { class: 'notify-hint' }, hint)),
    ),
  );
  const menu = h('div', { id: 'notify-menu', class: 'notify-menu', role: 'menu', 'aria-label': 'Notifications', hidden: true }, items);
  const el = h('div', { class: 'notify' }, button, menu);

  let room = null;
  let saving = false;

  const current = () => room?.notifications ?? 'all';
  const render = () => {
    const level = LEVELS.find((l) => l.level === current()) ?? LEVELS[0];
    const text = `Notifications: ${level.label}`;
    button.setAttribute('aria-label', text);
    button.title = text;
    button.classList.toggle('muted', level.level === 'none');
    for (const item of items) item.setAttribute('aria-checked', String(item.dataset.level === level.level));
  };

  const open = () => {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    (items.find((item) => item.getAttribute('aria-checked') === 'true') ?? items[0]).focus();
    document.addEventListener('pointerdown', onOutside, true);
  };
  const close = ({ restoreFocus = false } = {}) => {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    if (restoreFocus) button.focus();
  };
  const onOutside = (event) => {
    if (!el.contains(event.target)) close();
  };

  const choose = async (level) => {
    close({ restoreFocus: true });
    if (!room || saving || level === current()) return;
    saving = true;
    try {
      const saved = await api.setNotifications(room.id, level);
      room = { ...room, notifications: saved.level };
      render();
      onChange(saved.level);
    } catch (error) {
      toast(error.message || 'Could not change the notifications.', 'error');
    } finally {
      saving = false;
    }
  };

  button.addEventListener('click', () => (menu.hidden ? open() : close()));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      open();
    }
  });
  for (const item of items) item.addEventListener('click', () => choose(item.dataset.level));
  menu.addEventListener('keydown', (event) => {
    const at = items.indexOf(document.activeElement);
    const move = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
    if (move !== undefined) {
      event.preventDefault();
      items[(move + items.length) % items.length].focus();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      close({ restoreFocus: true });
    } else if (event.key === 'Tab') close();
  });

  return {
    el,
    /** The room as the header shows it; members only (others have no level). */
    setRoom(next) {
      room = next;
      button.hidden = !(room.is_member || room.role);
      render();
    },
    setDisabled(disabled) {
      button.disabled = disabled;
      if (disabled) close();
    },
    close,
  };
}
