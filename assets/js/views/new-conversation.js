// Starting conversations that are not public rooms: a direct message with one
// or more people (POST /api/dms, which opens the existing room for the same
// set of people) and a private room with picked members (POST /api/rooms with
// kind "private", then PUT .../members/{username} for each). Both can be made
// end-to-end encrypted ("encrypted": true; docs/encrypted-rooms.md).

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { toast } from '../toast.js';
import { createUserPicker, UserChips } from '../user-picker.js';

const MAX_NAME = 64;
const MAX_TOPIC = 256;
/** A direct room holds at most 8 people, the caller included. */
const MAX_DM_OTHERS = 7;

/** Human wording for the errors these forms can get. */
export function describeMembershipError(error, username = '') {
  switch (error.code) {
    case 'user_not_found':
      return username ? `There is no user called “${username}”.` : 'One of those users does not exist.';
    case 'dm_too_many':
      return `A direct message holds at most ${MAX_DM_OTHERS + 1} people, you included.`;
    case 'dm_needs_others':
      return 'Pick at least one other person.';
    case 'invalid_room_name':
      return error.message || `Room names are 1 to ${MAX_NAME} characters, without control characters.`;
    case 'invalid_topic':
      return error.message || `Topics are at most ${MAX_TOPIC} characters on one line.`;
    case 'forbidden':
      return 'You are not allowed to do that in this room.';
    default:
      return error.message || 'Something went wrong. Try again.';
  }
}

/**
 * Opens (creating on first use) the direct room with these people and shows it
 * (`encrypted`: the end-to-end encrypted one). Throws an ApiError.
 */
export async function startDm(ctx, usernames, { encrypted = false } = {}) {
  const room = await api.openDm(usernames, { encrypted });
  ctx.rooms.upsert({ ...room, is_member: true });
  ctx.navigate(`#/room/${encodeURIComponent(room.id)}`);
}

/** `startDm` for a click on someone's name: failures become a toast. */
export async function messageUser(ctx, username) {
  try {
    await startDm(ctx, [username]);
  } catch (error) {
    toast(describeMembershipError(error, username), 'error');
  }
}

/**
 * A modal form on <dialog>: Escape or Cancel closes it; `onSubmit` returns true
 * when done (the dialog closes) or throws an error to show inside it.
 */
function formDialog({ id, title, lead, fields, submitLabel, onSubmit }) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, submitLabel);
  const cancel = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Cancel');
  const form = h(
    'form',
    { class: 'dialog-form', novalidate: true },
    h('h2', { id: `${id}-title` }, title),
    h('p', { id: `${id}-lead` }, lead),
    fields,
    error,
    h('div', { class: 'dialog-actions' }, cancel, submit),
  );
  const dialog = h(
    'dialog',
    { class: 'dialog dialog-wide', id, 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-lead` },
    form,
  );
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  cancel.addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError('');
    submit.disabled = true;
    try {
      if (await onSubmit()) dialog.close();
    } catch (e) {
      showError(e.message);
    } finally {
      submit.disabled = false;
    }
  });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, showError };
}

/** The "End-to-end encrypted" checkbox of a new conversation, with what it means. */
function encryptedField(id) {
  const box = h('input', { id, type: 'checkbox', 'aria-describedby': `${id}-hint` });
  const el = h(
    'div',
    { class: 'field e2e-option' },
    h('label', { class: 'e2e-check', for: id }, box, icon('shieldLock', 'e2e-check-icon'), 'End-to-end encrypted'),
    h(
      'p',
      { class: 'field-hint', id: `${id}-hint` },
      'Messages are encrypted in your browsers: the server cannot read them. Files, webhooks and bots do not work there, and this cannot be changed later.',
    ),
  );
  return { el, box };
}

/** Field label + control + optional hint, in the app's field style. */
function field(forId, label, control, hint) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: forId }, label),
    control,
    hint ? h('p', { class: 'field-hint', id: `${forId}-hint` }, hint) : null,
  );
}

/** "New direct message": pick people, then open the conversation with them. */
export function newDmDialog(ctx) {
  const chips = new UserChips('People in this conversation');
  const picker = createUserPicker({
    id: 'dm-user',
    exclude: () => new Set([ctx.user.username, ...chips.names]),
    onPick: (name) => {
      if (name === ctx.user.username) return;
      if (chips.names.length >= MAX_DM_OTHERS) {
        showError(describeMembershipError({ code: 'dm_too_many' }));
        return;
      }
      chips.add(name);
    },
  });
  picker.input.setAttribute('aria-describedby', 'dm-user-hint');
  const encrypted = encryptedField('dm-encrypted');
  const { showError } = formDialog({
    id: 'new-dm',
    title: 'New direct message',
    lead: 'Only the people you pick can see it. Picking the same people again opens the same conversation.',
    fields: [field('dm-user', 'People', picker.el, 'Type a username, then Enter or pick a suggestion.'), chips.el, encrypted.el],
    submitLabel: 'Start conversation',
    onSubmit: async () => {
      const typed = picker.takeTyped();
      if (typed && typed !== ctx.user.username) chips.add(typed);
      if (chips.names.length === 0) throw new Error('Pick at least one person to message.');
      try {
        await startDm(ctx, chips.names, { encrypted: encrypted.box.checked });
      } catch (error) {
        throw new Error(describeMembershipError(error));
      }
      return true;
    },
  });
  picker.focus();
}

/** "New private room": name, optional topic, and the first members. */
export function newPrivateRoomDialog(ctx, initialName = '') {
  const name = h('input', { id: 'private-name', type: 'text', maxlength: MAX_NAME, autocomplete: 'off', value: initialName });
  const topic = h('input', { id: 'private-topic', type: 'text', maxlength: MAX_TOPIC, autocomplete: 'off' });
  const chips = new UserChips('Members to add');
  const encrypted = encryptedField('private-encrypted');
  const picker = createUserPicker({
    id: 'private-member',
    exclude: () => new Set([ctx.user.username, ...chips.names]),
    onPick: (username) => {
      if (username !== ctx.user.username) chips.add(username);
    },
  });
  formDialog({
    id: 'new-private',
    title: 'New private room',
    lead: 'Only members see a private room. Members can add others or share an invite link.',
    fields: [
      field('private-name', 'Room name', name),
      field('private-topic', 'Topic (optional)', topic),
      field('private-member', 'Members', picker.el, 'You can add more people later from the members panel.'),
      chips.el,
      encrypted.el,
    ],
    submitLabel: [icon('lock'), 'Create private room'],
    onSubmit: async () => {
      const roomName = name.value.trim();
      if (!roomName) {
        name.focus();
        throw new Error('Give the room a name.');
      }
      const typed = picker.takeTyped();
      if (typed && typed !== ctx.user.username) chips.add(typed);
      let room;
      try {
        room = await api.createRoom(roomName, {
          kind: 'private',
          topic: topic.value.trim() || undefined,
          encrypted: encrypted.box.checked,
        });
      } catch (error) {
        throw new Error(describeMembershipError(error));
      }
      ctx.rooms.upsert({ ...room, is_member: true });
      // The room exists now: a member that cannot be added is reported, not fatal.
      for (const username of chips.names) {
        try {
          await api.addMember(room.id, username);
        } catch (error) {
          toast(`Could not add ${username}: ${describeMembershipError(error, username)}`, 'error');
        }
      }
      ctx.navigate(`#/room/${encodeURIComponent(room.id)}`);
      return true;
    },
  });
  name.focus();
}
