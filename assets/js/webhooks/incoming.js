// The "Incoming webhooks" section of a room's webhooks panel: tools outside
// confab post into the room through a secret URL. Create one by name (its URL
// is shown once, with a copy button and a curl example), see who added each
// and when it was last used, and delete one after a confirmation.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import {
  confirmDelete,
  createFormError,
  createOnceBox,
  createStatus,
  describeWebhookError,
  emptyItem,
  MAX_NAME,
  when,
} from './common.js';

/** What the curl example posts. */
const EXAMPLE_BODY = '{"text":"Build passed"}';

/** A shell command that posts the example message to `url`. */
function curlExample(url) {
  return `curl -X POST -H 'Content-Type: application/json' -d '${EXAMPLE_BODY}' '${url}'`;
}

/**
 * @param room the room (id, name)
 * @returns { el, focus(), destroy() }
 */
export function createIncomingSection(room) {
  let gone = false;
  const name = h('input', {
    id: 'wh-in-name',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: MAX_NAME,
    placeholder: 'e.g. CI builds',
    'aria-describedby': 'wh-in-name-hint',
  });
  const error = createFormError('wh-in-error');
  const status = createStatus();
  const create = h('button', { class: 'btn btn-primary', type: 'submit' }, icon('plus'), 'Create incoming webhook');

  const example = h('code');
  const once = createOnceBox({
    id: 'wh-in-url',
    label: 'Webhook URL',
    copyLabel: 'Copy URL',
    extra: h(
      'div',
      { class: 'webhook-example' },
      h('p', { class: 'field-hint' }, 'Try it: this posts “Build passed” into the room.'),
      h('pre', {}, example),
    ),
  });

  const onSubmit = async (event) => {
    event.preventDefault();
    error.show('');
    const hookName = name.value.trim();
    if (!hookName || [...hookName].length > MAX_NAME) {
      error.show(`Give the webhook a name of 1 to ${MAX_NAME} characters, so you recognise its messages.`);
      name.setAttribute('aria-invalid', 'true');
      name.focus();
      return;
    }
    name.removeAttribute('aria-invalid');
    create.disabled = true;
    let made;
    try {
      made = await api.createIncomingWebhook(room.id, hookName);
    } catch (e) {
      create.disabled = false;
      if (gone) return;
      error.show(describeWebhookError(e), e.code);
      if (e.code === 'invalid_webhook_name') name.setAttribute('aria-invalid', 'true');
      return;
    }
    create.disabled = false;
    if (gone) return;
    name.value = '';
    example.textContent = curlExample(made.url);
    load();
    await once.show(made.url, [
      'The URL of ',
      h('strong', {}, made.name),
      ' is shown only now. Anyone with this URL can post into this room: copy it and keep it secret.',
    ]);
  };

  const form = h(
    'form',
    { class: 'webhook-form', onsubmit: onSubmit, novalidate: true, 'aria-label': 'New incoming webhook' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'wh-in-name' }, 'Name'),
      h('div', { class: 'webhook-form-row' }, name, create),
      h('p', { id: 'wh-in-name-hint', class: 'field-hint' }, 'Shown as the author of the messages it posts.'),
    ),
    error.el,
  );

  const count = h('span', { class: 'count' });
  const list = h('ul', { class: 'webhook-list', 'aria-labelledby': 'wh-in-title', tabindex: '-1' });
  let hooks = null;
  let listError = null;

  const remove = async (hook, button) => {
    const deleted = await confirmDelete({
      title: `Delete “${hook.name}”?`,
      text: 'Its URL stops working at once. Messages it already posted stay. This cannot be undone.',
      button,
      remove: () => api.deleteIncomingWebhook(room.id, hook.id),
      done: `Webhook “${hook.name}” deleted.`,
      say: status.say,
    });
    if (!deleted || gone) return;
    await load();
    list.focus();
  };

  const item = (hook, now) => {
    const button = h(
      'button',
      { class: 'btn btn-small btn-danger', type: 'button', 'aria-label': `Delete ${hook.name}` },
      icon('trash'),
      'Delete',
    );
    button.addEventListener('click', () => remove(hook, button));
    return h(
      'li',
      { class: 'webhook-item', dataset: { id: hook.id } },
      h(
        'div',
        { class: 'webhook-main' },
        h('span', { class: 'webhook-name' }, hook.name),
        h(
          'p',
          { class: 'webhook-meta' },
          h('span', {}, `added by ${hook.created_by}`),
          ' · ',
          when('created', hook.created_at, now),
          ' · ',
          when('last used', hook.last_used_at, now, 'never used'),
        ),
      ),
      button,
    );
  };

  const render = () => {
    count.textContent = hooks ? String(hooks.length) : '';
    if (!hooks) {
      list.replaceChildren(h('li', { class: 'room-empty webhook-empty' }, listError ? listError.message : 'Loading…'));
    } else if (hooks.length === 0) {
      list.replaceChildren(emptyItem('No incoming webhooks', 'Create one above to let a script or service post here.'));
    } else {
      const now = new Date();
      list.replaceChildren(...hooks.map((hook) => item(hook, now)));
    }
  };

  async function load() {
    try {
      const loaded = await api.listIncomingWebhooks(room.id);
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
    { class: 'webhook-section', 'aria-labelledby': 'wh-in-title' },
    h('div', { class: 'section-head' }, h('h3', { id: 'wh-in-title' }, 'Incoming webhooks'), count),
    h(
      'p',
      { class: 'webhook-lead' },
      'Let a script or another service post into this room: it sends a POST with JSON such as ',
      h('code', {}, EXAMPLE_BODY),
      ' to the webhook’s secret URL.',
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
    focus: () => name.focus(),
    destroy() {
      gone = true;
    },
  };
}
