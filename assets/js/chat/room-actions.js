// The membership controls under the members list: add a member and share an
// invite link (private rooms, any member), and leave the room (everyone).
// Direct rooms have fixed members: they offer only "leave".

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { formatExpiresIn } from '../format.js';
import { createUserPicker } from '../user-picker.js';
import { describeMembershipError } from '../views/new-conversation.js';

/**
 * @param room     the room (its `kind` decides which controls show)
 * @param opts     { exclude() => Set of current members, onAdded(username), onLeave() }
 * @returns { el }
 */
export function createRoomActions(room, { exclude, onAdded, onLeave }) {
  const parts = [];
  const status = h('p', { class: 'members-status', role: 'status', 'aria-live': 'polite' });
  const say = (text, kind = 'info') => {
    status.textContent = text;
    status.classList.toggle('error', kind === 'error');
  };

  if (room.kind === 'private') {
    const picker = createUserPicker({
      id: 'add-member',
      placeholder: 'Username',
      exclude,
      onPick: async (username) => {
        say(`Adding ${username}…`);
        try {
          await api.addMember(room.id, username);
        } catch (error) {
          say(describeMembershipError(error, username), 'error');
          return;
        }
        say(`${username} was added.`);
        onAdded(username);
      },
    });
    parts.push(
      h(
        'div',
        { class: 'members-block' },
        h('label', { class: 'members-label', for: 'add-member' }, icon('userPlus'), 'Add a member'),
        picker.el,
      ),
    );

    const linkField = h('input', {
      id: 'invite-url',
      type: 'text',
      class: 'invite-url',
      readonly: true,
      'aria-describedby': 'invite-note',
    });
    const note = h('p', { class: 'field-hint', id: 'invite-note' });
    const copy = h('button', { class: 'btn btn-small btn-ghost', type: 'button' }, 'Copy');
    const linkBox = h(
      'div',
      { class: 'invite-box', hidden: true },
      h('label', { class: 'sr-only', for: 'invite-url' }, 'Invite link'),
      h('div', { class: 'invite-row' }, linkField, copy),
      note,
    );
    const create = h('button', { class: 'btn btn-small btn-ghost btn-block', type: 'button' }, icon('link'), 'Copy invite link');
    const copyLink = async () => {
      linkField.focus();
      linkField.select();
      try {
        await navigator.clipboard.writeText(linkField.value);
        return true;
      } catch {
        return false; // no clipboard permission: the selected field is the fallback
      }
    };
    linkField.addEventListener('focus', () => linkField.select());
    copy.addEventListener('click', async () => {
      say((await copyLink()) ? 'Invite link copied.' : 'Select the link and copy it.');
    });
    create.addEventListener('click', async () => {
      create.disabled = true;
      let invite;
      try {
        invite = await api.createInvite(room.id);
      } catch (error) {
        say(describeMembershipError(error), 'error');
        create.disabled = false;
        return;
      }
      create.disabled = false;
      linkField.value = invite.url;
      const uses = invite.max_uses ? `, for ${invite.max_uses} ${invite.max_uses === 1 ? 'use' : 'uses'}` : '';
      note.textContent = `Anyone with this link can join; it ${formatExpiresIn(invite.expires_at)}${uses}.`;
      linkBox.hidden = false;
      say((await copyLink()) ? 'Invite link created and copied.' : 'Invite link created: select it and copy it.');
    });
    parts.push(h('div', { class: 'members-block' }, create, linkBox));
  }

  const leaveLabel = room.kind === 'direct' ? 'Leave conversation' : 'Leave room';
  const leave = h('button', { class: 'btn btn-small btn-ghost btn-block members-leave', type: 'button' }, icon('logout'), leaveLabel);
  leave.addEventListener('click', () => onLeave(leave));
  parts.push(h('div', { class: 'members-block' }, leave));

  return { el: h('div', { class: 'members-actions' }, parts, status), say };
}
