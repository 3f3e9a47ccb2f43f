// The "Outgoing webhooks" section of a room's webhooks panel: confab POSTs the
// room's new messages (all, or those with a trigger word) to a URL, signed with
// a secret. Create one (the secret is shown once), delete one after a
// confirmation, and look at its recent deliveries.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import {
  confirmDelete,
  createFormError,
  createOnceBox,
  createStatus,
  describeWebhookError,
  emptyItem,
  when,
} from './common.js';
import { createDeliveries } from './deliveries.js';

/** Outgoing webhooks fire on this event only, for now. */
const EVENTS = ['message'];
/** The most trigger words one webhook takes (400 `invalid_trigger_words`). */
const MAX_TRIGGER_WORDS = 10;

/** "!deploy, !ping  !status" -> ["!deploy", "!ping", "!status"] (duplicates dropped). */
export function parseTriggerWords(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

/**
 * @param room the room (id, name)
 * @returns { el, destroy() }
 */
export function createOutgoingSection(room) {
  let gone = false;
  const url = h('input', {
    id: 'wh-out-url',
    type: 'text',
    inputmode: 'url',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'https://example.com/confab-hook',
    'aria-describedby': 'wh-out-url-hint',
  });
  const words = h('input', {
    id: 'wh-out-words',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. !deploy, !status',
    'aria-describedby': 'wh-out-words-hint',
  });
  const error = createFormError('wh-out-error');
  const status = createStatus();
  const create = h('button', { class: 'btn btn-primary', type: 'submit' }, icon('plus'), 'Create outgoing webhook');
  const once = createOnceBox({ id: 'wh-out-secret', label: 'Signing secret', copyLabel: 'Copy secret' });
  /** Open "Recent deliveries" panels by webhook id, kept across list reloads. */
  const open = new Map();

  const onSubmit = async (event) => {
    event.preventDefault();
    error.show('');
    const target = url.value.trim();
    if (!/^https?:\/\/\S+$/i.test(target)) {
      error.show('Enter a full address that starts with http:// or https://.');
      url.setAttribute('aria-invalid', 'true');
      url.focus();
      return;
    }
    url.removeAttribute('aria-invalid');
    words.removeAttribute('aria-invalid');
    create.disabled = true;
    let made;
    try {
      made = await api.createOutgoingWebhook(room.id, target, parseTriggerWords(words.value));
    } catch (e) {
      create.disabled = false;
      if (gone) return;
      error.show(describeWebhookError(e), e.code);
      const field = e.code === 'invalid_trigger_words' ? words : url;
      if (e.code !== 'too_many_webhooks') {
        field.setAttribute('aria-invalid', 'true');
        field.focus();
      }
      return;
    }
    create.disabled = false;
    if (gone) return;
    url.value = '';
    words.value = '';
    load();
    await once.show(made.secret, [
      'The signing secret of the webhook to ',
      h('strong', { class: 'webhook-url' }, made.url),
      ' is shown only now. Each request carries ',
      h('code', {}, 'X-Confab-Signature: sha256=<hex>'),
      ', the HMAC-SHA256 with this secret of ',
      h('code', {}, 'X-Confab-Timestamp'),
      ', a dot and the raw body: check it to know a request came from confab.',
    ]);
  };

  const form = h(
    'form',
    { class: 'webhook-form', onsubmit: onSubmit, novalidate: true, 'aria-label': 'New outgoing webhook' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'wh-out-url' }, 'URL'),
      url,
      h('p', { id: 'wh-out-url-hint', class: 'field-hint' }, 'confab POSTs each matching message here as JSON.'),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'wh-out-words' }, 'Trigger words'),
      words,
      h(
        'p',
        { id: 'wh-out-words-hint', class: 'field-hint' },
        `Optional, up to ${MAX_TRIGGER_WORDS}, separated by commas or spaces: only messages whose first word is one of them are sent. Empty: every message.`,
      ),
    ),
    h(
      'p',
      { class: 'webhook-events' },
      h('span', { class: 'webhook-events-label' }, 'Events'),
      EVENTS.map((name) => h('span', { class: 'tag' }, name)),
      h('span', { class: 'field-hint' }, 'New messages. A JSON answer with a “text” is posted back into the room.'),
    ),
    error.el,
    h('div', { class: 'form-actions' }, create),
  );

  const count = h('span', { class: 'count' });
  const list = h('ul', { class: 'webhook-list', 'aria-labelledby': 'wh-out-title', tabindex: '-1' });
  let hooks = null;
  let listError = null;

  const remove = async (hook, button) => {
    const deleted = await confirmDelete({
      title: 'Delete this outgoing webhook?',
      text: `Messages are no longer sent to ${hook.url}, and deliveries still waiting for a retry are dropped. This cannot be undone.`,
      button,
      remove: () => api.deleteOutgoingWebhook(room.id, hook.id),
      done: `Outgoing webhook to ${hook.url} deleted.`,
      say: status.say,
    });
    if (!deleted || gone) return;
    open.get(hook.id)?.destroy();
    open.delete(hook.id);
    await load();
    list.focus();
  };

  const item = (hook, now) => {
    const button = h(
      'button',
      { class: 'btn btn-small btn-danger', type: 'button', 'aria-label': `Delete webhook to ${hook.url}` },
      icon('trash'),
      'Delete',
    );
    button.addEventListener('click', () => remove(hook, button));
    const words = hook.trigger_words ?? [];
    let deliveries = open.get(hook.id);
    if (!deliveries) {
      deliveries = createDeliveries(room.id, hook);
      open.set(hook.id, deliveries);
    }
    return h(
      'li',
      { class: 'webhook-item webhook-item-out', dataset: { id: hook.id } },
      h(
        'div',
        { class: 'webhook-main' },
        h('span', { class: 'webhook-name webhook-url' }, hook.url),
        h('span', { class: 'webhook-tags' }, (hook.events ?? []).map((name) => h('span', { class: 'tag' }, name))),
        h(
          'p',
          { class: 'webhook-meta' },
          words.length
            ? h('span', {}, 'trigger words ', words.map((word, i) => [i ? ' ' : '', h('code', { class: 'webhook-word' }, word)]))
            : h('span', {}, 'every message'),
          hook.name ? [' · ', h('span', {}, 'replies as ', h('strong', {}, hook.name))] : null,
          ' · ',
          h('span', {}, `added by ${hook.created_by}`),
          ' · ',
          when('created', hook.created_at, now),
        ),
      ),
      button,
      deliveries.el,
    );
  };

  const render = () => {
    count.textContent = hooks ? String(hooks.length) : '';
    if (!hooks) {
      list.replaceChildren(h('li', { class: 'room-empty webhook-empty' }, listError ? listError.message : 'Loading…'));
    } else if (hooks.length === 0) {
      list.replaceChildren(emptyItem('No outgoing webhooks', 'Create one above to send this room’s messages to a bot or service.'));
    } else {
      const now = new Date();
      list.replaceChildren(...hooks.map((hook) => item(hook, now)));
    }
    // Deleted elsewhere: stop their deliveries' refresh.
    for (const [id, deliveries] of open) {
      if (!hooks?.some((hook) => hook.id === id)) {
        deliveries.destroy();
        open.delete(id);
      }
    }
  };

  async function load() {
    try {
      const loaded = await api.listOutgoingWebhooks(room.id);
      if (gone) return;
      hooks = loaded;
      listError = null;
    } catch (e) {
      if (gone) return;
      listError = e;
    }
    render();
  }

  const el = h(
    'section',
    { class: 'webhook-section', 'aria-labelledby': 'wh-out-title' },
    h('div', { class: 'section-head' }, h('h3', { id: 'wh-out-title' }, 'Outgoing webhooks'), count),
    h(
      'p',
      { class: 'webhook-lead' },
      'Send this room’s new messages to a bot or another service. Each request is signed with a secret, so the receiver can tell it came from confab.',
    ),
    form,
    once.el,
    status.el,
    list,
  );

  render();
  load();
  return {
    el,
    destroy() {
      gone = true;
      for (const deliveries of open.values()) deliveries.destroy();
      open.clear();
    },
  };
}
