// Pieces both webhook sections share: the "shown only now" box with a copy
// button, the wording of the server's refusals, relative times, and the
// delete-after-confirming flow.

import { confirmDialog } from '../dialog.js';
import { h, icon } from '../dom.js';
import { formatAgo, formatFull, parseDate } from '../format.js';

/** The per-room limit the server enforces, incoming and outgoing together (409 `too_many_webhooks`). */
export const MAX_WEBHOOKS_PER_ROOM = 20;
/** The longest webhook name the server takes (400 `invalid_webhook_name`). */
export const MAX_NAME = 64;

/** Says why the server refused to create a webhook, in the user's terms. */
export function describeWebhookError(error) {
  switch (error.code) {
    case 'invalid_url':
      return 'Enter a full address that starts with http:// or https://.';
    case 'forbidden_url':
      return 'This URL points inside the network (a loopback, private or link-local address). Webhooks may only call public addresses.';
    case 'unresolvable_url':
      return 'The host name in this URL could not be found. Check it for typos.';
    case 'too_many_webhooks':
      return `This room already has ${MAX_WEBHOOKS_PER_ROOM} webhooks, incoming and outgoing together. Delete one you no longer use first.`;
    case 'not_member':
      return 'Only members of this room can manage its webhooks.';
    default:
      // invalid_webhook_name, invalid_trigger_words, invalid_event, forbidden: the server's
      // message names the rule that was broken.
      return error.message || 'Could not create the webhook.';
  }
}

/**
 * A form's error line: shows `text` (and the server's code, for tests and
 * bug reports) or hides itself when `text` is empty.
 */
export function createFormError(id) {
  const el = h('p', { id, class: 'form-error', role: 'alert', hidden: true });
  return {
    el,
    show(text, code = '') {
      el.textContent = text;
      el.hidden = !text;
      if (code) el.dataset.code = code;
      else delete el.dataset.code;
    },
  };
}

/**
 * A value the server hands out once (an incoming URL, a signing secret): a
 * read-only field with a copy button and a live status line.
 * @param opts { id, label (the field's name), copyLabel, note (nodes above the field) }
 */
export function createOnceBox({ id, label, copyLabel, note, extra = null }) {
  const field = h('input', {
    id,
    type: 'text',
    class: 'webhook-secret',
    readonly: true,
    spellcheck: 'false',
    autocomplete: 'off',
    'aria-describedby': `${id}-note`,
  });
  const copy = h('button', { class: 'btn btn-small btn-ghost', type: 'button' }, icon('copy'), copyLabel);
  const status = h('p', { class: 'field-hint', role: 'status', 'aria-live': 'polite' });
  const noteEl = h('p', { id: `${id}-note` });
  const el = h(
    'div',
    { class: 'webhook-created', role: 'region', 'aria-label': label, hidden: true },
    noteEl,
    h('div', { class: 'invite-row' }, h('label', { class: 'sr-only', for: id }, label), field, copy),
    status,
    extra,
  );
  const copyValue = async () => {
    field.focus();
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      return true;
    } catch {
      return false; // no clipboard permission: the selected field is the fallback
    }
  };
  field.addEventListener('focus', () => field.select());
  copy.addEventListener('click', async () => {
    status.textContent = (await copyValue()) ? 'Copied.' : 'Select it and copy it.';
  });
  return {
    el,
    /** Shows `value` with `noteParts` above it, and copies it. */
    async show(value, noteParts) {
      noteEl.replaceChildren(...noteParts);
      field.value = value;
      status.textContent = '';
      el.hidden = false;
      status.textContent = (await copyValue()) ? 'Created and copied.' : 'Created: select it and copy it.';
    },
    hide() {
      el.hidden = true;
      field.value = '';
    },
  };
}

/** "created 5 minutes ago" with the full date as a tooltip, or `fallback` without a date. */
export function when(label, value, now, fallback = '') {
  if (!value) return h('span', {}, fallback);
  return h(
    'span',
    {},
    label ? `${label} ` : '',
    h('time', { datetime: value, title: formatFull(parseDate(value)) }, formatAgo(value, now)),
  );
}

/**
 * Asks, then deletes a webhook; a 404 counts as done (someone else deleted it).
 * The outcome goes to `say` (a status line inside the panel: a toast would sit
 * behind the modal, where screen readers do not reach it).
 * @returns Promise<boolean> whether it is gone
 */
export async function confirmDelete({ title, text, button, remove, done, say }) {
  const ok = await confirmDialog({ title, text, confirm: 'Delete', danger: true });
  if (!ok) return false;
  button.disabled = true;
  try {
    await remove();
  } catch (e) {
    if (e.status !== 404) {
      button.disabled = false;
      say(e.message || 'Could not delete the webhook.', 'error');
      return false;
    }
  }
  say(done);
  return true;
}

/** A polite status line for what happened in a section; `say(text, kind)` fills it. */
export function createStatus() {
  const el = h('p', { class: 'webhook-status', role: 'status', 'aria-live': 'polite' });
  return {
    el,
    say(text, kind = 'info') {
      el.textContent = text;
      el.classList.toggle('error', kind === 'error');
    },
  };
}

/** The "Nothing here yet" line of an empty list. */
export function emptyItem(title, text) {
  return h('li', { class: 'room-empty webhook-empty' }, h('strong', {}, title), h('span', {}, text));
}
