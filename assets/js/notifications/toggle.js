// The top bar's browser notifications control: a bell button that opens a
// small panel with an on/off switch and a line saying what is true now
// (on with push, on only while a tab is open and why, off, blocked by the
// browser, not possible here). Which messages of a room notify stays with the
// room's own bell menu (chat/notify-menu.js).
//
// Keyboard: the button opens the panel with focus on the switch; Escape closes
// it and returns focus to the button.

import { h, icon } from '../dom.js';

/**
 * @param settings the NotificationSettings
 * @returns { el, destroy }
 */
export function createNotificationsToggle(settings) {
  const button = h(
    'button',
    {
      class: 'icon-btn notif-toggle',
      type: 'button',
      'aria-expanded': 'false',
      'aria-controls': 'notifications-panel',
    },
    icon('bell'),
  );
  const toggle = h(
    'button',
    { class: 'notif-switch', type: 'button', role: 'switch', 'aria-checked': 'false' },
    h('span', { class: 'notif-switch-track', 'aria-hidden': 'true' }, h('span', { class: 'notif-switch-thumb' })),
    h('span', { class: 'notif-switch-label' }, 'Notify me about new messages'),
  );
  const status = h('p', { class: 'notif-status', role: 'status' });
  const panel = h(
    'div',
    { id: 'notifications-panel', class: 'notif-panel', role: 'group', 'aria-label': 'Browser notifications', hidden: true },
    h('h2', { class: 'notif-title' }, 'Browser notifications'),
    toggle,
    status,
    h('p', { class: 'notif-hint' }, 'Each room’s bell, in its header, chooses which of its messages notify you.'),
  );
  const el = h('div', { class: 'notif' }, button, panel);

  const render = () => {
    const { state } = settings;
    const shown = describe(state, settings.active);
    el.dataset.state = shown.key;
    button.setAttribute('aria-label', `Browser notifications: ${shown.word}`);
    button.title = `Browser notifications: ${shown.word}`;
    toggle.setAttribute('aria-checked', String(settings.active));
    // Not disabled while a change is under way (settings ignore a second
    // click then): a disabled button would drop the keyboard focus.
    toggle.disabled = !state.supported || state.permission === 'denied';
    toggle.setAttribute('aria-busy', String(settings.busy));
    status.textContent = shown.text;
  };

  const open = () => {
    settings.refresh();
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', onOutside, true);
    if (!toggle.disabled) toggle.focus();
  };
  const close = ({ restoreFocus = false } = {}) => {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    if (restoreFocus) button.focus();
  };
  const onOutside = (event) => {
    if (!el.contains(event.target)) close();
  };

  button.addEventListener('click', () => (panel.hidden ? open() : close()));
  // Straight from the click: the permission prompt needs the user's gesture.
  toggle.addEventListener('click', () => (settings.active ? settings.disable() : settings.enable()));
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      close({ restoreFocus: true });
    }
  });
  settings.addEventListener('change', render);
  render();

  return {
    el,
    destroy() {
      close();
      settings.removeEventListener('change', render);
    },
  };
}

/** What the control says in a state: `key` (for CSS and tests), the button's `word`, the panel's `text`. */
function describe(state, active) {
  if (!state.supported) {
    return {
      key: 'unsupported',
      word: 'not available',
      text: window.isSecureContext
        ? 'This browser cannot show notifications.'
        : 'Notifications need confab to be opened over https.',
    };
  }
  if (state.permission === 'denied') {
    return {
      key: 'blocked',
      word: 'blocked',
      text: 'Your browser blocks notifications from this site. Allow them in its site settings, then reload.',
    };
  }
  if (!active) return { key: 'off', word: 'off', text: 'Off: confab does not notify you.' };
  if (state.push === 'on') {
    return { key: 'on', word: 'on', text: 'On: you are notified of new messages, even when confab is closed.' };
  }
  if (state.push === 'unavailable') {
    return {
      key: 'tab-only',
      word: 'on while confab is open',
      text: `On while confab is open in a tab. Push is unavailable: ${state.pushReason}`,
    };
  }
  return { key: 'checking', word: 'on', text: 'On. Setting up push notifications…' };
}
