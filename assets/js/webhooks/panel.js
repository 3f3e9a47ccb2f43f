// A room's webhooks, in a modal panel opened from the chat header: incoming
// webhooks (tools post into the room) above outgoing ones (the room's
// messages go to a tool). A <dialog> gives the focus trap, Escape to close
// and focus back on the opener for free.

import { h, icon } from '../dom.js';
import { createIncomingSection } from './incoming.js';
import { createOutgoingSection } from './outgoing.js';

/** Only one panel at a time (a second click on the header button while one is open does nothing). */
let current = null;

/**
 * Opens the webhooks panel of `room` (`id`, `name`).
 * @returns { close() }
 */
export function openWebhooks(room) {
  if (current) return current;
  const incoming = createIncomingSection(room);
  const outgoing = createOutgoingSection(room);
  const close = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close webhooks' }, icon('close'));
  const dialog = h(
    'dialog',
    { class: 'dialog webhooks-dialog', 'aria-labelledby': 'webhooks-title' },
    h(
      'header',
      { class: 'webhooks-head' },
      h('h2', { id: 'webhooks-title' }, `Webhooks of #${room.name}`),
      close,
    ),
    h('div', { class: 'webhooks-body' }, incoming.el, outgoing.el),
  );
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    incoming.destroy();
    outgoing.destroy();
    dialog.remove();
    current = null;
  });
  document.body.append(dialog);
  dialog.showModal();
  // On a phone, focusing a field would pop the keyboard over the panel just opened.
  if (matchMedia('(hover: hover) and (pointer: fine)').matches) incoming.focus();
  else close.focus();
  current = { close: () => dialog.close() };
  return current;
}
