// Settings: your personal access tokens. Create one with a name, scopes and an
// expiry (the secret is shown once, with a copy button), see when each was
// last used, and revoke one after a confirmation.

import { api } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { h, icon } from '../dom.js';
import { formatAgo, formatExpiresIn, formatFull, parseDate } from '../format.js';
import { setTitle } from '../title.js';
import { toast } from '../toast.js';

const MAX_NAME = 64;
const DAY = 24 * 60 * 60;

/** What each scope allows, in words. */
const SCOPES = [
  { name: 'read', text: 'See rooms, members and messages, and receive new messages live.' },
  { name: 'write', text: 'Send, edit and delete messages, react, create and manage rooms.' },
  { name: 'admin', text: 'Administer the server: create bots, and act on other people’s rooms.', adminOnly: true },
];

const EXPIRY = [
  { label: 'In 7 days', secs: 7 * DAY },
  { label: 'In 30 days', secs: 30 * DAY, selected: true },
  { label: 'In 90 days', secs: 90 * DAY },
  { label: 'In a year', secs: 365 * DAY },
  { label: 'Never', secs: null },
];

/** Says why a token could not be made, in the user's terms. */
function describeError(error) {
  switch (error.code) {
    case 'too_many_tokens':
      return 'You already have 50 tokens. Revoke one you no longer use first.';
    case 'invalid_token_name':
      return `Give the token a name of 1 to ${MAX_NAME} characters.`;
    case 'invalid_scope':
      return 'Choose at least one scope.';
    default:
      return error.message || 'Could not create the token.';
  }
}

/** @param ctx { user } */
export function mountTokens(outlet, ctx) {
  setTitle('Access tokens · confab');
  let gone = false;

  const name = h('input', {
    id: 'token-name',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: MAX_NAME,
    placeholder: 'e.g. CI deploy',
    'aria-describedby': 'token-name-hint',
  });
  const scopeBoxes = SCOPES.filter((scope) => !scope.adminOnly || ctx.user.is_admin).map((scope) => {
    const box = h('input', { type: 'checkbox', name: 'scope', value: scope.name, checked: scope.name === 'read' });
    const label = h(
      'label',
      { class: 'scope-option' },
      box,
      h('span', { class: 'scope-text' }, h('strong', {}, scope.name), h('span', { class: 'field-hint' }, scope.text)),
    );
    return { box, label };
  });
  const expiry = h(
    'select',
    { id: 'token-expiry' },
    EXPIRY.map((option) => h('option', { value: option.secs ?? '', selected: option.selected ?? false }, option.label)),
  );
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const create = h('button', { class: 'btn btn-primary', type: 'submit' }, icon('key'), 'Create token');

  const secretField = h('input', {
    id: 'token-secret',
    type: 'text',
    class: 'token-secret',
    readonly: true,
    spellcheck: 'false',
    'aria-describedby': 'token-secret-note',
  });
  const copy = h('button', { class: 'btn btn-small btn-ghost', type: 'button' }, icon('copy'), 'Copy');
  const copyStatus = h('p', { class: 'field-hint', role: 'status', 'aria-live': 'polite' });
  const createdName = h('strong');
  const created = h(
    'div',
    { class: 'token-created', role: 'region', 'aria-label': 'New token', hidden: true },
    h('p', { id: 'token-secret-note' }, 'Your new token ', createdName, ' is shown only now. Copy it and keep it secret: it acts as you.'),
    h('div', { class: 'invite-row' }, h('label', { class: 'sr-only', for: 'token-secret' }, 'New token'), secretField, copy),
    copyStatus,
  );
  const copySecret = async () => {
    secretField.focus();
    secretField.select();
    try {
      await navigator.clipboard.writeText(secretField.value);
      return true;
    } catch {
      return false; // no clipboard permission: the selected field is the fallback
    }
  };
  secretField.addEventListener('focus', () => secretField.select());
  copy.addEventListener('click', async () => {
    copyStatus.textContent = (await copySecret()) ? 'Copied.' : 'Select the token and copy it.';
  });

  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  const onSubmit = async (event) => {
    event.preventDefault();
    showError('');
    const tokenName = name.value.trim();
    const scopes = scopeBoxes.filter(({ box }) => box.checked).map(({ box }) => box.value);
    if (!tokenName || [...tokenName].length > MAX_NAME) {
      showError(`Give the token a name of 1 to ${MAX_NAME} characters.`);
      name.setAttribute('aria-invalid', 'true');
      name.focus();
      return;
    }
    name.removeAttribute('aria-invalid');
    if (scopes.length === 0) {
      showError('Choose at least one scope.');
      scopeBoxes[0].box.focus();
      return;
    }
    create.disabled = true;
    let issued;
    try {
      issued = await api.createToken(tokenName, scopes, expiry.value ? Number(expiry.value) : null);
    } catch (e) {
      create.disabled = false;
      showError(describeError(e));
      return;
    }
    create.disabled = false;
    if (gone) return;
    name.value = '';
    createdName.textContent = issued.token.name;
    secretField.value = issued.secret;
    copyStatus.textContent = '';
    created.hidden = false;
    copyStatus.textContent = (await copySecret()) ? 'Created and copied.' : 'Created: select the token and copy it.';
    loadList();
  };

  const form = h(
    'form',
    { class: 'token-form', onsubmit: onSubmit, novalidate: true },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'token-name' }, 'Name'),
      name,
      h('p', { id: 'token-name-hint', class: 'field-hint' }, 'What it is for, so you recognise it later.'),
    ),
    h('fieldset', { class: 'field scope-set' }, h('legend', {}, 'Scopes'), scopeBoxes.map(({ label }) => label)),
    h('div', { class: 'field' }, h('label', { for: 'token-expiry' }, 'Expires'), expiry),
    error,
    h('div', { class: 'form-actions' }, create),
  );

  const count = h('span', { class: 'count' });
  const list = h('ul', { class: 'token-list', 'aria-labelledby': 'tokens-title' });
  let tokens = null;
  let listError = null;

  const revoke = async (token, button) => {
    const ok = await confirmDialog({
      title: `Revoke “${token.name}”?`,
      text: 'Anything using this token stops working at once, and its live connections close. This cannot be undone.',
      confirm: 'Revoke',
      danger: true,
    });
    if (!ok || gone) return;
    button.disabled = true;
    try {
      await api.revokeToken(token.id);
    } catch (e) {
      button.disabled = false;
      if (e.status !== 404) {
        toast(e.message || 'Could not revoke the token.', 'error');
        return;
      }
    }
    toast(`Token “${token.name}” revoked.`);
    loadList();
  };

  const item = (token, now) => {
    const button = h(
      'button',
      { class: 'btn btn-small btn-danger', type: 'button', 'aria-label': `Revoke ${token.name}` },
      'Revoke',
    );
    button.addEventListener('click', () => revoke(token, button));
    const when = (label, value, fallback) =>
      value
        ? h('span', {}, `${label} `, h('time', { datetime: value, title: formatFull(parseDate(value)) }, formatAgo(value, now)))
        : h('span', {}, fallback);
    return h(
      'li',
      { class: 'token-item', dataset: { id: token.id } },
      h(
        'div',
        { class: 'token-main' },
        h('span', { class: 'token-name' }, token.name),
        h('span', { class: 'token-scopes' }, token.scopes.map((scope) => h('span', { class: 'tag' }, scope))),
        h(
          'p',
          { class: 'token-meta' },
          when('Created', token.created_at, ''),
          ' · ',
          when('last used', token.last_used_at, 'never used'),
          ' · ',
          h('span', {}, token.expires_at ? formatExpiresIn(token.expires_at, now) : 'never expires'),
        ),
      ),
      button,
    );
  };

  const renderList = () => {
    count.textContent = tokens ? String(tokens.length) : '';
    if (!tokens) {
      list.replaceChildren(h('li', { class: 'room-empty' }, listError ? listError.message : 'Loading tokens…'));
    } else if (tokens.length === 0) {
      list.replaceChildren(
        h('li', { class: 'room-empty' }, h('strong', {}, 'No tokens yet'), h('span', {}, 'Create one above to use the API from a script.')),
      );
    } else {
      const now = new Date();
      list.replaceChildren(...tokens.map((token) => item(token, now)));
    }
  };

  async function loadList() {
    try {
      const loaded = await api.listTokens();
      if (gone) return;
      tokens = loaded;
      listError = null;
    } catch (e) {
      if (gone) return;
      listError = e;
    }
    renderList();
  }

  const page = h(
    'div',
    { class: 'page tokens-page' },
    h(
      'header',
      { class: 'page-head' },
      h('h1', {}, 'Access tokens'),
      h(
        'p',
        { class: 'page-lead' },
        'Personal access tokens let scripts, CI jobs and API clients use confab as you, with only the scopes you give them. Send one as ',
        h('code', {}, 'Authorization: Bearer <token>'),
        '; ',
        h('a', { href: '/api/docs', target: '_blank', rel: 'noopener noreferrer' }, 'the API docs'),
        ' accept one under “Authorize”.',
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'new-token-title' },
      h('h2', { id: 'new-token-title', class: 'card-title' }, 'New token'),
      form,
      created,
    ),
    h(
      'section',
      { class: 'rooms-section', 'aria-labelledby': 'tokens-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'tokens-title' }, 'Your tokens'), count),
      list,
    ),
  );

  renderList();
  loadList();
  outlet.replaceChildren(page);
  if (matchMedia('(min-width: 760px)').matches) name.focus();

  return {
    destroy() {
      gone = true;
      page.remove();
    },
  };
}
