// #/invite/<code>: accepts an invite link (POST /api/invites/{code}/accept)
// and opens the room it leads to. A signed-out visitor logs in first (main.js
// remembers the link). The accepted link is replaced in the history, so Back
// does not accept it a second time.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { setTitle } from '../title.js';

/** What to tell someone whose invite link does not work. */
function describe(error) {
  switch (error.code) {
    case 'invite_expired':
      return {
        title: 'This invite link has expired',
        text: 'Invite links work for a limited time. Ask someone in the room for a new one.',
      };
    case 'invite_used_up':
      return {
        title: 'This invite link has been used up',
        text: 'It was accepted as many times as it allows. Ask someone in the room for a new one.',
      };
    case 'invite_not_found':
    case 'not_found':
      return {
        title: 'This invite link is not valid',
        text: 'Check that you copied the whole link. It may also have been revoked, or its room deleted.',
      };
    default:
      return { title: 'Could not accept the invite', text: error.message, retry: true };
  }
}

/** @param ctx { rooms, navigate } */
export function mountInvite(outlet, ctx, code) {
  const page = h('div', { class: 'page invite-page' });
  outlet.replaceChildren(page);
  let destroyed = false;

  const accept = async () => {
    setTitle('Joining… · confab');
    page.replaceChildren(
      h('div', { class: 'chat-loading', role: 'status' }, h('span', { class: 'spinner' }), 'Accepting the invite…'),
    );
    let room;
    try {
      room = await api.acceptInvite(code);
    } catch (error) {
      if (destroyed) return;
      showProblem(describe(error));
      return;
    }
    if (destroyed) return;
    ctx.rooms.upsert({ ...room, is_member: true });
    ctx.navigate(`#/room/${encodeURIComponent(room.id)}`, { replace: true });
  };

  const showProblem = ({ title, text, retry }) => {
    setTitle(`${title} · confab`);
    const actions = [h('a', { class: 'btn btn-primary', href: '#/rooms' }, 'Back to rooms')];
    if (retry) {
      const again = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Try again');
      again.addEventListener('click', accept);
      actions.unshift(again);
    }
    page.replaceChildren(
      h(
        'div',
        { class: 'empty-state', role: 'alert' },
        h('span', { class: 'empty-icon' }, icon('link')),
        h('h1', {}, title),
        h('p', {}, text),
        h('div', { class: 'empty-actions' }, actions),
      ),
    );
  };

  accept();
  return {
    destroy() {
      destroyed = true;
      page.remove();
    },
  };
}
