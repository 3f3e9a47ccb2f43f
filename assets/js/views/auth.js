// Sign-up and log-in screen. One form, two modes (#/login and #/signup);
// server errors are shown inline next to the field they concern.

import { api } from '../api.js';
import { h } from '../dom.js';
import { formatDuration } from '../format.js';
import { setTitle } from '../title.js';

const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;

const MODES = {
  login: {
    title: 'Welcome back',
    lead: 'Log in to pick up where your team left off.',
    submit: 'Log in',
    busy: 'Logging in…',
    passwordAutocomplete: 'current-password',
    switchText: 'New to confab?',
    switchLink: 'Create an account',
    switchHref: '#/signup',
  },
  signup: {
    title: 'Create your account',
    lead: 'Pick a username your teammates will recognise.',
    submit: 'Sign up',
    busy: 'Creating account…',
    passwordAutocomplete: 'new-password',
    switchText: 'Already have an account?',
    switchLink: 'Log in',
    switchHref: '#/login',
  },
};

/** Human wording for the server's error codes. */
function describeError(mode, error) {
  switch (error.code) {
    case 'username_taken':
      return { field: 'username', text: 'That username is already taken. Try another one.' };
    case 'invalid_username':
      return { field: 'username', text: error.message || 'Use 3–32 characters: a–z, 0–9, dot, dash or underscore.' };
    case 'invalid_password':
      return { field: 'password', text: error.message || 'Use at least 8 characters.' };
    case 'invalid_credentials':
      return { field: null, text: 'Wrong username or password.' };
    case 'rate_limited': {
      const wait = error.retryAfter ? `in ${formatDuration(error.retryAfter * 1000)}` : 'in a few minutes';
      return { field: null, text: `Too many attempts. For your security, try again ${wait}.` };
    }
    case 'registration_closed':
      return { field: null, text: 'Sign-up is closed on this server. Ask an admin for an account.' };
    default:
      return {
        field: null,
        text: error.message || (mode === 'login' ? 'Could not log in.' : 'Could not create the account.'),
      };
  }
}

/**
 * Renders the auth screen into `root`.
 * @param mode       'login' | 'signup'
 * @param onSignedIn called with the User after a successful log-in or sign-up
 */
export function mountAuth(root, mode, onSignedIn) {
  const m = MODES[mode] ?? MODES.login;
  setTitle(`${m.submit} · confab`);

  const usernameError = h('p', { class: 'field-error', id: 'auth-username-error', hidden: true });
  const passwordError = h('p', { class: 'field-error', id: 'auth-password-error', hidden: true });
  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });

  const username = h('input', {
    id: 'auth-username',
    name: 'username',
    type: 'text',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    minlength: 3,
    maxlength: 32,
    'aria-describedby': 'auth-username-hint auth-username-error',
  });
  const password = h('input', {
    id: 'auth-password',
    name: 'password',
    type: 'password',
    autocomplete: m.passwordAutocomplete,
    required: true,
    minlength: mode === 'signup' ? 8 : null,
    maxlength: 1024,
    'aria-describedby': 'auth-password-error',
  });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, m.submit);

  const showError = ({ field, text }) => {
    for (const [input, el] of [
      [username, usernameError],
      [password, passwordError],
    ]) {
      const mine = (field === 'username' && input === username) || (field === 'password' && input === password);
      el.hidden = !mine;
      el.textContent = mine ? text : '';
      if (mine) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    formError.hidden = field !== null;
    formError.textContent = field === null ? text : '';
    (field === 'password' ? password : field === 'username' ? username : null)?.focus();
  };
  const clearErrors = () => {
    for (const el of [usernameError, passwordError, formError]) {
      el.hidden = true;
      el.textContent = '';
    }
    username.removeAttribute('aria-invalid');
    password.removeAttribute('aria-invalid');
  };

  const onSubmit = async (event) => {
    event.preventDefault();
    clearErrors();
    const name = username.value.trim().toLowerCase();
    username.value = name;
    if (!USERNAME_RE.test(name)) {
      showError({ field: 'username', text: 'Use 3–32 characters: a–z, 0–9, dot, dash or underscore.' });
      return;
    }
    if (mode === 'signup' && new TextEncoder().encode(password.value).length < 8) {
      showError({ field: 'password', text: 'Use at least 8 characters.' });
      return;
    }
    if (!password.value) {
      showError({ field: 'password', text: 'Enter your password.' });
      return;
    }
    submit.disabled = true;
    submit.textContent = m.busy;
    try {
      const { user } = mode === 'signup' ? await api.register(name, password.value) : await api.login(name, password.value);
      onSignedIn(user);
    } catch (error) {
      showError(describeError(mode, error));
      submit.disabled = false;
      submit.textContent = m.submit;
    }
  };

  const form = h(
    'form',
    { class: 'auth-form', novalidate: true, onsubmit: onSubmit, 'aria-labelledby': 'auth-title' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'auth-username' }, 'Username'),
      username,
      h('p', { class: 'field-hint', id: 'auth-username-hint' }, 'Lowercase letters, digits, dot, dash or underscore.'),
      usernameError,
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'auth-password' }, 'Password'),
      password,
      mode === 'signup' ? h('p', { class: 'field-hint' }, 'At least 8 characters.') : null,
      passwordError,
    ),
    formError,
    submit,
  );

  const screen = h(
    'main',
    { class: 'auth-screen' },
    h(
      'div',
      { class: 'auth-card' },
      h(
        'div',
        { class: 'auth-brand' },
        h('img', { src: '/favicon.svg', alt: '', width: 40, height: 40 }),
        h('span', { class: 'brand-name' }, 'confab'),
      ),
      h('h1', { id: 'auth-title' }, m.title),
      h('p', { class: 'auth-lead' }, m.lead),
      form,
      h('p', { class: 'auth-switch' }, `${m.switchText} `, h('a', { href: m.switchHref }, m.switchLink)),
    ),
    h('p', { class: 'auth-footer' }, 'Self-hosted team chat. Your messages stay on your server.'),
  );

  root.replaceChildren(screen);
  username.focus();
  return { destroy: () => screen.remove() };
}
