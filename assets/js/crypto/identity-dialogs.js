// The dialogs that give this browser the signed-in user's identity key
// (docs/encrypted-rooms.md, "Keys"):
// - setup: choose an encryption passphrase (typed twice), or take a generated
//   recovery key instead, to protect a new key pair;
// - unlock: the passphrase or recovery key of the key already on the server,
//   with a clear "Wrong passphrase" when it does not open it;
// - reset ("Forgot passphrase? Reset key", after a confirmation): a new key
//   pair under a new passphrase; older messages stay unreadable.
// The work itself (PBKDF2, key generation, uploads) is the keyring's; these
// only ask, show progress and errors, and say what the choices mean.

import { confirmDialog } from '../dialog.js';
import { h, icon } from '../dom.js';
import { generateRecoveryKey, normalizeRecoveryKey } from './primitives.js';

const MIN_PASSPHRASE = 8;
/** What a recovery key looks like once normalized: 32 base32 characters. */
const RECOVERY_KEY = /^[A-Z2-7]{32}$/;

/** What resetting means, said before and while doing it. */
export const RESET_CONSEQUENCES =
  'A new key replaces your old one. Encrypted messages sent before now stay unreadable for you, on every device. ' +
  'Other members’ browsers share the current room keys with your new key when they are next online: ' +
  'until then, messages in encrypted rooms wait for them.';

/**
 * The candidates to try for what was typed into "Passphrase or recovery key":
 * as typed, and, when it looks like a recovery key, in its normalized form.
 */
export function secretsToTry(typed) {
  const secrets = [typed];
  const normalized = normalizeRecoveryKey(typed);
  if (RECOVERY_KEY.test(normalized) && normalized !== typed) secrets.push(normalized);
  return secrets;
}

/**
 * Asks for a new key's secret (setup, or reset after a forgotten passphrase).
 * @param mode     'setup' | 'reset'
 * @param create   async (secret) => void: makes and uploads the key; its error is shown
 * @returns Promise<boolean> true once `create` succeeded, false when cancelled
 */
export function newKeyDialog(mode, create) {
  return new Promise((resolve) => {
    const reset = mode === 'reset';
    const passphrase = h('input', { id: 'e2e-passphrase', type: 'password', autocomplete: 'new-password' });
    const repeat = h('input', { id: 'e2e-passphrase-repeat', type: 'password', autocomplete: 'new-password' });
    const recovery = generateRecoveryKey();
    const recoveryField = h('input', {
      id: 'e2e-recovery-key',
      type: 'text',
      class: 'e2e-recovery-key',
      readonly: true,
      value: recovery,
      'aria-describedby': 'e2e-recovery-hint',
    });
    const copy = h('button', { class: 'btn btn-small btn-ghost', type: 'button' }, icon('copy'), 'Copy');
    const saved = h('input', { id: 'e2e-recovery-saved', type: 'checkbox' });
    const passphraseFields = h(
      'div',
      { class: 'e2e-fields' },
      field('e2e-passphrase', 'Encryption passphrase', passphrase, `At least ${MIN_PASSPHRASE} characters. Not your login password.`),
      field('e2e-passphrase-repeat', 'Repeat the passphrase', repeat),
    );
    const recoveryFields = h(
      'div',
      { class: 'e2e-fields', hidden: true },
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'e2e-recovery-key' }, 'Your recovery key'),
        h('div', { class: 'invite-row' }, recoveryField, copy),
        h(
          'p',
          { class: 'field-hint', id: 'e2e-recovery-hint' },
          'Write it down or keep it in a password manager. It is shown only now, and nobody (not even the server’s admin) can show it to you again.',
        ),
      ),
      h('label', { class: 'e2e-check', for: 'e2e-recovery-saved' }, saved, 'I have saved my recovery key'),
    );
    let useRecovery = false;
    const switchMode = h('button', { class: 'link-btn', type: 'button' }, 'Use a recovery key instead');
    switchMode.addEventListener('click', () => {
      useRecovery = !useRecovery;
      passphraseFields.hidden = useRecovery;
      recoveryFields.hidden = !useRecovery;
      switchMode.textContent = useRecovery ? 'Use a passphrase instead' : 'Use a recovery key instead';
      showError('');
      (useRecovery ? recoveryField : passphrase).focus();
    });
    recoveryField.addEventListener('focus', () => recoveryField.select());
    copy.addEventListener('click', async () => {
      recoveryField.select();
      try {
        await navigator.clipboard.writeText(recovery);
        copy.replaceChildren(icon('copy'), 'Copied');
      } catch {
        // No clipboard permission: the selected field is the fallback.
      }
    });

    const lead = reset
      ? RESET_CONSEQUENCES
      : 'Messages in encrypted rooms are locked with a key that only your browsers hold. Protect it with an encryption passphrase: you need it to read encrypted rooms in another browser or on another device. If you lose it, you can reset your key, but older encrypted messages cannot be recovered.';
    const { dialog, form, showError, setBusy } = keyDialog({
      id: 'e2e-new-key',
      title: reset ? 'Reset your encryption key' : 'Set up end-to-end encryption',
      lead,
      fields: [passphraseFields, recoveryFields, h('p', { class: 'e2e-switch' }, switchMode)],
      submitLabel: reset ? 'Reset key' : 'Create key',
      danger: reset,
      onClose: (done) => resolve(done),
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      showError('');
      let secret;
      if (useRecovery) {
        if (!saved.checked) {
          showError('Save your recovery key first, then tick the box.');
          saved.focus();
          return;
        }
        secret = normalizeRecoveryKey(recovery);
      } else {
        if (passphrase.value.length < MIN_PASSPHRASE) {
          showError(`Use at least ${MIN_PASSPHRASE} characters for the passphrase.`);
          passphrase.focus();
          return;
        }
        if (repeat.value !== passphrase.value) {
          showError('The two passphrases are not the same.');
          repeat.focus();
          return;
        }
        secret = passphrase.value;
      }
      setBusy(reset ? 'Resetting your key…' : 'Creating your key…');
      try {
        await create(secret);
      } catch (error) {
        setBusy(null);
        showError(error.message || 'Could not create the key. Try again.');
        return;
      }
      dialog.close('done');
    });
    passphrase.focus();
  });
}

/**
 * Asks for the passphrase or recovery key of the key on the server.
 * @param unlock  async (typed) => void: throws an Error named 'WrongPassphrase' when it does not open the key
 * @param reset   async (secret) => void: a new key (after "Forgot passphrase?" and a confirmation)
 * @returns Promise<'unlocked' | 'reset' | null> (null: cancelled)
 */
export function unlockDialog(unlock, reset) {
  return new Promise((resolve) => {
    const secret = h('input', {
      id: 'e2e-unlock-secret',
      type: 'password',
      autocomplete: 'current-password',
      'aria-describedby': 'e2e-unlock-secret-hint',
    });
    const forgot = h('button', { class: 'link-btn', type: 'button' }, 'Forgot passphrase? Reset key');
    let outcome = null;
    let resetting = false;
    const { dialog, form, showError, setBusy } = keyDialog({
      id: 'e2e-unlock',
      title: 'Unlock end-to-end encryption',
      lead: 'This browser does not hold your encryption key yet. Enter your encryption passphrase, or your recovery key, to read and send messages in encrypted rooms.',
      fields: [
        field(
          'e2e-unlock-secret',
          'Passphrase or recovery key',
          secret,
          'The encryption passphrase you chose, not your login password.',
        ),
        h('p', { class: 'e2e-switch' }, forgot),
      ],
      submitLabel: 'Unlock',
      onClose: () => {
        if (!resetting) resolve(outcome);
      },
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      showError('');
      if (secret.value === '') {
        showError('Enter your passphrase or recovery key.');
        secret.focus();
        return;
      }
      setBusy('Unlocking…');
      try {
        await unlock(secret.value);
      } catch (error) {
        setBusy(null);
        secret.setAttribute('aria-invalid', 'true');
        showError(
          error.name === 'WrongPassphrase'
            ? 'Wrong passphrase. Check it and try again, or enter your recovery key.'
            : error.message || 'Could not unlock the key. Try again.',
        );
        secret.select();
        return;
      }
      outcome = 'unlocked';
      dialog.close('done');
    });
    forgot.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: 'Reset your encryption key?',
        text: RESET_CONSEQUENCES,
        confirm: 'Reset key',
        danger: true,
      });
      if (!ok) return;
      // The unlock dialog makes way for the one choosing the new key.
      resetting = true;
      dialog.close();
      const done = await newKeyDialog('reset', reset);
      resolve(done ? 'reset' : null);
    });
    secret.focus();
  });
}

/** A modal form in the app's dialog style; `onClose(done)` when it closes (done: closed with 'done'). */
function keyDialog({ id, title, lead, fields, submitLabel, danger = false, onClose }) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const status = h('p', { class: 'e2e-busy', role: 'status' });
  const submit = h('button', { class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, type: 'submit' }, submitLabel);
  const cancel = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Cancel');
  const form = h(
    'form',
    { class: 'dialog-form', novalidate: true },
    h('h2', { id: `${id}-title` }, icon('shieldLock', 'e2e-title-icon'), title),
    h('p', { id: `${id}-lead` }, lead),
    fields,
    error,
    status,
    h('div', { class: 'dialog-actions' }, cancel, submit),
  );
  const dialog = h(
    'dialog',
    { class: 'dialog dialog-wide e2e-dialog', id, 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-lead` },
    form,
  );
  let busy = false;
  cancel.addEventListener('click', () => dialog.close());
  // Escape while the key is being made would leave the work half done in the user's mind.
  dialog.addEventListener('cancel', (event) => {
    if (busy) event.preventDefault();
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    onClose(dialog.returnValue === 'done');
  });
  document.body.append(dialog);
  dialog.showModal();
  return {
    dialog,
    form,
    showError(text) {
      error.textContent = text;
      error.hidden = !text;
    },
    /** Shows `text` as progress and disables the buttons; null ends it. */
    setBusy(text) {
      busy = Boolean(text);
      status.textContent = text ?? '';
      submit.disabled = busy;
      cancel.disabled = busy;
    },
  };
}

function field(forId, label, control, hint) {
  if (hint) control.setAttribute('aria-describedby', `${forId}-hint`);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: forId }, label),
    control,
    hint ? h('p', { class: 'field-hint', id: `${forId}-hint` }, hint) : null,
  );
}
