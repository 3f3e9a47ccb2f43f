// Trust in members' keys: the key-change check behind a room's warnings, and
// the "Verify members" dialog.
//
// This browser remembers the fingerprint of each member's key it has seen
// (keystore.js `seen`, per signed-in user): the first sight is trusted as is,
// a different key later is a warning (a reset after a lost passphrase, or a
// server handing out a key of its own). A member marked verified (their
// safety code compared out of band) stays verified for that fingerprint only:
// a new key under a verified member is a stronger warning.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import {
  clearVerified,
  markVerified,
  rememberFingerprint,
  seenFingerprint,
  verifiedFingerprint,
} from './keystore.js';
import { fingerprint, safetyCode } from './primitives.js';

/**
 * A member's key as this browser sees it: `{ username, publicKey, fingerprint,
 * seen, verified }`, or `{ username, publicKey: null }` without one.
 */
async function memberKey(me, username) {
  const key = await api.publicKey(username);
  if (!key) return { username, publicKey: null };
  const [fp, seen, verified] = await Promise.all([
    fingerprint(key.public_key),
    seenFingerprint(me, username).catch(() => null),
    verifiedFingerprint(me, username).catch(() => null),
  ]);
  return { username, publicKey: key.public_key, fingerprint: fp, seen, verified };
}

/**
 * The warnings about `members`' keys: `[{ member, kind, fingerprint }]`, kind
 * 'verified_changed' (no longer the verified key) or 'changed' (not the key
 * this browser saw last). A member seen for the first time is remembered.
 */
export async function keyWarnings(me, members) {
  const keys = await Promise.all(members.filter((name) => name !== me).map((name) => memberKey(me, name).catch(() => null)));
  const warnings = [];
  for (const key of keys) {
    if (!key?.publicKey) continue;
    if (key.verified && key.verified !== key.fingerprint) {
      warnings.push({ member: key.username, kind: 'verified_changed', fingerprint: key.fingerprint });
    } else if (key.seen && key.seen !== key.fingerprint) {
      warnings.push({ member: key.username, kind: 'changed', fingerprint: key.fingerprint });
    } else if (!key.seen) {
      await rememberFingerprint(me, key.username, key.fingerprint).catch(() => {});
    }
  }
  return warnings;
}

/** The user accepts a member's new key as the one to compare against from now on. */
export async function acceptKey(me, member, fp) {
  await rememberFingerprint(me, member, fp);
}

/** "ab12 cd34 …": a fingerprint in groups of four, easier to read out. */
export function groupedFingerprint(fp) {
  return fp.match(/.{1,4}/g).join(' ');
}

/**
 * The "Verify members" dialog: every other member's safety code and
 * fingerprint, and a button to mark them verified (or withdraw it).
 * @param onChange () => void, after a verification was added or withdrawn
 */
export async function openVerifyDialog({ me, myPublicKey, members, onChange = () => {} }) {
  const list = h('ul', { class: 'e2e-verify-list', 'aria-label': 'Members and their safety codes' });
  const close = h('button', { class: 'btn btn-primary', type: 'button' }, 'Done');
  const mine = await fingerprint(myPublicKey);
  const dialog = h(
    'dialog',
    { class: 'dialog dialog-wide e2e-dialog e2e-verify', 'aria-labelledby': 'e2e-verify-title', 'aria-describedby': 'e2e-verify-lead' },
    h('h2', { id: 'e2e-verify-title' }, icon('shieldLock', 'e2e-title-icon'), 'Verify members'),
    h(
      'p',
      { id: 'e2e-verify-lead' },
      'Compare each safety code with that member, in person or on a call. If you both see the same 60 digits, nobody can read your messages in between. Then mark them verified: this browser warns you if their key changes.',
    ),
    h('p', { class: 'e2e-own' }, 'Your key’s fingerprint: ', h('code', { class: 'e2e-fingerprint' }, groupedFingerprint(mine))),
    list,
    h('div', { class: 'dialog-actions' }, close),
  );
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());

  const render = async () => {
    const others = members.filter((name) => name !== me);
    const keys = await Promise.all(others.map((name) => memberKey(me, name).catch(() => ({ username: name, publicKey: null }))));
    const rows = await Promise.all(keys.map((key) => memberRow(key)));
    list.replaceChildren(...rows);
    if (rows.length === 0) list.append(h('li', { class: 'member-empty' }, 'Nobody else is in this room yet.'));
  };
  const memberRow = async (key) => {
    const name = h('strong', { class: 'e2e-verify-name' }, key.username);
    if (!key.publicKey) {
      return h(
        'li',
        { class: 'e2e-verify-item', dataset: { user: key.username } },
        name,
        h('p', { class: 'field-hint' }, 'Has not set up end-to-end encryption yet.'),
      );
    }
    const verified = key.verified === key.fingerprint;
    let status;
    if (verified) status = h('span', { class: 'tag e2e-verified' }, 'Verified');
    else if (key.verified) status = h('span', { class: 'tag e2e-changed' }, 'Key changed since you verified it');
    else if (key.seen && key.seen !== key.fingerprint) status = h('span', { class: 'tag e2e-changed' }, 'Key changed');
    else status = h('span', { class: 'tag e2e-unverified' }, 'Not verified');
    const code = await safetyCode(myPublicKey, key.publicKey);
    const button = verified
      ? h('button', { class: 'btn btn-small btn-ghost', type: 'button' }, 'Remove verification')
      : h('button', { class: 'btn btn-small btn-primary', type: 'button' }, `Mark ${key.username} verified`);
    button.addEventListener('click', async () => {
      button.disabled = true;
      if (verified) await clearVerified(me, key.username);
      else {
        await markVerified(me, key.username, key.fingerprint);
        await rememberFingerprint(me, key.username, key.fingerprint);
      }
      await render();
      onChange();
    });
    return h(
      'li',
      { class: 'e2e-verify-item', dataset: { user: key.username } },
      h('div', { class: 'e2e-verify-head' }, name, status),
      h('p', { class: 'e2e-label' }, 'Safety code'),
      h('code', { class: 'e2e-safety-code', 'aria-label': `Safety code with ${key.username}: ${code}` }, code),
      h('p', { class: 'e2e-label' }, 'Fingerprint of their key'),
      h('code', { class: 'e2e-fingerprint' }, groupedFingerprint(key.fingerprint)),
      h('div', { class: 'e2e-verify-actions' }, button),
    );
  };

  await render();
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
