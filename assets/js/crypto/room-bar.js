// What an encrypted room shows about its encryption, under the chat header:
// the lock-on-a-shield mark, the state of the room key ("Waiting for a member
// to share the room key", members who have not set up encryption), a "Verify
// members" button, and warnings when a member's key changed (trust.js). Also
// the notice shown instead of the chat while this browser's key is locked.

import { encryptedBadge, h, icon } from '../dom.js';
import { setTitle } from '../title.js';
import { WAITING_TEXT } from './render.js';
import { acceptKey, keyWarnings, openVerifyDialog } from './trust.js';

/** "ann", "ann and ben", "ann, ben and cat". */
function names(list) {
  if (list.length <= 1) return list.join('');
  return `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

/**
 * @param opts.session  the RoomSession
 * @param opts.me       the signed-in username
 * @param opts.members  () => the room's member names (empty until loaded)
 * @param opts.direct   a direct conversation rather than a room (for the wording)
 * @returns { el, update(), checkTrust(), destroy() }
 */
export function createEncryptionBar({ session, me, members, direct = false }) {
  const status = h('span', { class: 'e2e-status', role: 'status' });
  const verify = h('button', { class: 'btn btn-small btn-ghost e2e-verify-btn', type: 'button' }, 'Verify members');
  const warnings = h('div', { class: 'e2e-warnings' });
  const el = h(
    'div',
    { class: 'e2e-bar', role: 'region', 'aria-label': 'Encryption' },
    h('div', { class: 'e2e-bar-row' }, encryptedBadge('e2e-badge'), h('strong', {}, 'End-to-end encrypted'), status, verify),
    warnings,
  );
  let trustRun = 0;
  let destroyed = false;

  const openVerify = () =>
    openVerifyDialog({
      me,
      myPublicKey: session.keyring.publicKey,
      members: members(),
      onChange: () => checkTrust(),
    });
  verify.addEventListener('click', openVerify);

  function update() {
    const others = (list) => list.filter((name) => name !== me);
    let text;
    if (!session.version) text = 'Checking the room key…';
    else if (!session.canSend) text = `${WAITING_TEXT}…`;
    else if (others(session.withoutKey).length > 0) {
      const people = others(session.withoutKey);
      text = `${names(people)} ${people.length === 1 ? 'has' : 'have'} not set up encryption yet and cannot read new messages.`;
    } else if (others(session.missing).length > 0) {
      text = `Waiting to share the room key with ${names(others(session.missing))}.`;
    } else {
      text = direct
        ? 'Only the people in this conversation can read its messages.'
        : 'Only the members of this room can read its messages.';
    }
    if (status.textContent !== text) status.textContent = text;
    el.classList.toggle('e2e-waiting', session.version > 0 && !session.canSend);
  }

  /** Compares the members' keys with what this browser saw and verified; shows warnings. */
  async function checkTrust() {
    const run = ++trustRun;
    let found;
    try {
      found = await keyWarnings(me, members());
    } catch {
      return; // offline: the next check tries again
    }
    if (destroyed || run !== trustRun) return;
    warnings.replaceChildren(...found.map((warning) => warningRow(warning)));
  }

  function warningRow({ member, kind, fingerprint }) {
    const text =
      kind === 'verified_changed'
        ? `${member}’s encryption key no longer matches the one you verified. Do not trust new messages from ${member} until you have compared safety codes again.`
        : `${member}’s encryption key changed since this browser last saw it. They may have reset it: compare safety codes to be sure it is theirs.`;
    const check = h('button', { class: 'btn btn-small btn-ghost', type: 'button' }, 'Verify members');
    check.addEventListener('click', openVerify);
    const actions = [check];
    if (kind === 'changed') {
      const dismiss = h('button', { class: 'btn btn-small btn-ghost', type: 'button' }, 'Dismiss');
      dismiss.addEventListener('click', async () => {
        await acceptKey(me, member, fingerprint);
        checkTrust();
      });
      actions.push(dismiss);
    }
    return h(
      'div',
      { class: `e2e-warning e2e-warning-${kind}`, role: 'alert', dataset: { user: member } },
      icon('alert'),
      h('span', { class: 'e2e-warning-text' }, text),
      h('span', { class: 'e2e-warning-actions' }, actions),
    );
  }

  update();
  return {
    el,
    update,
    checkTrust,
    destroy() {
      destroyed = true;
    },
  };
}

/**
 * Replaces the page with "this room is end-to-end encrypted" while this
 * browser's key is locked (the dialog was cancelled); `onUnlock` asks again.
 */
export function showLockedNotice(page, onUnlock) {
  setTitle('Encrypted room · confab');
  const unlock = h('button', { class: 'btn btn-primary', type: 'button' }, icon('shieldLock'), 'Unlock encryption');
  unlock.addEventListener('click', onUnlock);
  page.replaceChildren(
    h(
      'div',
      { class: 'empty-state e2e-locked', role: 'alert' },
      h('span', { class: 'empty-icon' }, icon('shieldLock')),
      h('h1', {}, 'This room is end-to-end encrypted'),
      h(
        'p',
        {},
        'Its messages can only be read in a browser that holds your encryption key. Unlock it with your encryption passphrase or recovery key, or set one up.',
      ),
      h('div', { class: 'empty-actions' }, unlock, h('a', { class: 'btn btn-ghost', href: '#/rooms' }, 'Back to rooms')),
    ),
  );
}
