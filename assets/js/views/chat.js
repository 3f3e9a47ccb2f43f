// The chat screen for one room: wires the REST history, the WebSocket frames,
// the outbox of pending sends and the UI parts (header, messages, typing,
// composer, people online) together.

import { api } from '../api.js';
import { createComposer } from '../chat/composer.js';
import { createHeader } from '../chat/header.js';
import { Members } from '../chat/members.js';
import { MessageList } from '../chat/message-list.js';
import { Outbox } from '../chat/outbox.js';
import { TypingIndicator } from '../chat/typing.js';
import { confirmDialog } from '../dialog.js';
import { h, icon } from '../dom.js';
import { parseDate } from '../format.js';
import { toast } from '../toast.js';

const PAGE = 50;
const WIDE_LAYOUT = '(min-width: 1100px)';
const EXPIRY_CHECK_MS = 10_000;

/** @param ctx { user, socket, rooms, navigate } */
export function mountChat(outlet, ctx, roomId) {
  const page = h('div', { class: 'page chat-page' });
  outlet.replaceChildren(page);
  let destroyed = false;
  let view = null;

  const showLoading = () => {
    document.title = 'Loading… · confab';
    page.replaceChildren(
      h('div', { class: 'chat-loading', role: 'status' }, h('span', { class: 'spinner' }), 'Loading room…'),
    );
  };
  const showProblem = (title, text, retry) => {
    document.title = `${title} · confab`;
    const actions = [h('a', { class: 'btn btn-primary', href: '#/rooms' }, 'Back to rooms')];
    if (retry) {
      const again = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Try again');
      again.addEventListener('click', load);
      actions.unshift(again);
    }
    page.replaceChildren(
      h(
        'div',
        { class: 'empty-state', role: 'alert' },
        h('span', { class: 'empty-icon' }, icon('alert')),
        h('h1', {}, title),
        h('p', {}, text),
        h('div', { class: 'empty-actions' }, actions),
      ),
    );
  };

  async function load() {
    showLoading();
    let room;
    let messages;
    try {
      [room, messages] = await Promise.all([api.getRoom(roomId), api.messages(roomId, { limit: PAGE })]);
    } catch (error) {
      if (destroyed) return;
      if (error.status === 404) {
        ctx.rooms.remove(roomId);
        showProblem('Room not found', 'This room does not exist any more: it expired or was deleted.', false);
      } else showProblem('Could not open the room', error.message, true);
      return;
    }
    if (destroyed) return;
    view = chatView(page, ctx, room, messages);
  }

  load();
  return {
    destroy() {
      destroyed = true;
      view?.destroy();
    },
  };
}

/** The live chat once the room and its newest messages are loaded. */
function chatView(page, ctx, initialRoom, history) {
  const { socket, user } = ctx;
  const roomId = initialRoom.id;
  let room = initialRoom;
  let joined = false;
  let hasJoinedOnce = false;
  let gone = false;
  let unread = 0;
  let membersChoice = null; // null: follow the layout; true/false: the user's toggle
  const wide = matchMedia(WIDE_LAYOUT);

  const updateTitle = () => {
    document.title = `${unread ? `(${unread}) ` : ''}#${room.name} · confab`;
  };

  const header = createHeader({
    canDelete: room.created_by === user.username || user.is_admin,
    onDelete: () => deleteRoom(),
    onToggleMembers: () => {
      membersChoice = !membersVisible();
      applyMembers();
    },
  });
  const list = new MessageList(room.name, async (before) => {
    const older = await api.messages(roomId, { before, limit: PAGE });
    return { messages: older, reachedStart: older.length < PAGE };
  });
  const outbox = new Outbox(list.pending, (nonce, body) => {
    if (!joined) return false;
    return socket.send({ type: 'send', room: roomId, body, nonce });
  });
  const typing = new TypingIndicator();
  const members = new Members(user.username);
  const composer = createComposer(
    room.name,
    (body) => {
      outbox.add(body);
      list.scrollToBottom();
    },
    () => {
      if (joined) socket.send({ type: 'typing', room: roomId });
    },
  );
  const banner = h('div', { class: 'banner', role: 'alert', hidden: true });
  const offline = h('div', { class: 'chat-offline', hidden: true });
  const closeMembers = h(
    'button',
    { class: 'icon-btn members-close', type: 'button', 'aria-label': 'Close people online' },
    icon('close'),
  );
  closeMembers.addEventListener('click', () => {
    membersChoice = false;
    applyMembers();
  });
  const panel = h(
    'aside',
    { id: 'members-panel', class: 'members-panel', 'aria-label': 'People online' },
    closeMembers,
    members.el,
  );
  const section = h(
    'section',
    { class: 'chat', 'aria-label': `Room ${room.name}` },
    header.el,
    banner,
    h('div', { class: 'chat-body' }, h('div', { class: 'chat-main' }, list.el, typing.el, offline, composer.el), panel),
  );

  function membersVisible() {
    return membersChoice ?? wide.matches;
  }
  function applyMembers() {
    const open = membersVisible();
    section.classList.toggle('members-open', open);
    header.setMembersExpanded(open);
  }
  const onLayoutChange = () => {
    membersChoice = null;
    applyMembers();
  };

  header.setRoom(room);
  members.addEventListener('change', () => header.setOnlineCount(members.count));
  header.setOnlineCount(members.count);
  applyMembers();
  updateTitle();
  page.replaceChildren(section);
  list.setHistory(history, history.length < PAGE);
  // On a phone, focusing would pop the keyboard over the history just opened.
  if (matchMedia('(hover: hover) and (pointer: fine)').matches) composer.focus();

  function setGone(reason) {
    if (gone) return;
    gone = true;
    joined = false;
    socket.leave(roomId);
    ctx.rooms.remove(roomId);
    const expired = reason === 'expired' || parseDate(room.expires_at).getTime() <= Date.now();
    header.setGone(expired ? 'expired' : 'deleted');
    typing.destroy();
    members.set([]);
    outbox.failAll('not_found');
    composer.setDisabled(`This room ${expired ? 'has expired' : 'was deleted'}`);
    offline.hidden = true;
    banner.replaceChildren(
      icon('alert'),
      h(
        'div',
        { class: 'banner-text' },
        h('strong', {}, expired ? 'This room has expired.' : 'This room was deleted.'),
        ' Nobody can post here any more.',
      ),
      h('a', { class: 'btn btn-small btn-primary', href: '#/rooms' }, 'Back to rooms'),
    );
    banner.hidden = false;
  }

  async function deleteRoom() {
    const ok = await confirmDialog({
      title: `Delete #${room.name}?`,
      text: 'Everyone in the room is told, and all its messages are deleted for good.',
      confirm: 'Delete room',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.deleteRoom(roomId);
      ctx.rooms.remove(roomId);
      toast(`#${room.name} was deleted.`);
      ctx.navigate('#/rooms');
    } catch (error) {
      toast(error.message || 'Could not delete the room.', 'error');
    }
  }

  const onFrame = ({ detail: frame }) => {
    if (gone) return;
    switch (frame.type) {
      case 'joined': {
        if (frame.room?.id !== roomId) return;
        // The server replays everything after our `after` cursor, in pages,
        // before live delivery resumes: no catch-up request is needed.
        joined = true;
        hasJoinedOnce = true;
        room = frame.room;
        header.setRoom(room);
        members.set(frame.online ?? []);
        outbox.flush();
        break;
      }
      case 'message': {
        const message = frame.message;
        if (message?.room !== roomId) return;
        if (frame.nonce) outbox.ack(frame.nonce);
        if (list.add(message, { own: Boolean(frame.nonce) })) {
          typing.clear(message.author);
          ctx.rooms.touch(roomId, message.sent_at);
          if (document.visibilityState === 'hidden' && message.author !== user.username) {
            unread += 1;
            updateTitle();
          }
        }
        break;
      }
      case 'typing':
        if (frame.room === roomId && frame.user !== user.username) typing.show(frame.user);
        break;
      case 'presence':
        if (frame.room === roomId) members.setOnline(frame.user, frame.online);
        break;
      case 'room_deleted':
        if (frame.room === roomId) setGone('deleted');
        break;
      case 'error':
        onError(frame);
        break;
      default:
        break;
    }
  };

  function onError(frame) {
    if (frame.nonce && outbox.has(frame.nonce)) {
      outbox.fail(frame.nonce, frame.code, frame.message);
      return;
    }
    if (frame.code === 'not_found' && !joined) setGone('deleted');
    else if (frame.code === 'not_joined') socket.join(roomId, () => list.lastId);
    else if (frame.code !== 'rate_limited') toast(frame.message || `Server error: ${frame.code}`, 'error');
  }

  const onState = () => {
    const connected = socket.state === 'open';
    if (!connected) {
      joined = false;
      outbox.markDisconnected();
    }
    members.setStale(hasJoinedOnce && !connected);
    // A first "connecting" is normal page start; say "lost" only once a retry is pending.
    offline.hidden = connected || gone || socket.state === 'connecting';
    offline.replaceChildren(
      icon('alert'),
      h('span', {}, h('strong', {}, 'Connection lost.'), ' Messages you write now are sent when it is back.'),
    );
  };
  const onVisibility = () => {
    if (document.visibilityState === 'visible' && unread) {
      unread = 0;
      updateTitle();
    }
  };
  const expiryCheck = setInterval(() => {
    if (parseDate(room.expires_at).getTime() <= Date.now()) setGone('expired');
  }, EXPIRY_CHECK_MS);

  socket.addEventListener('frame', onFrame);
  socket.addEventListener('state', onState);
  onState();
  document.addEventListener('visibilitychange', onVisibility);
  wide.addEventListener('change', onLayoutChange);
  // Join after the REST page: `after` = its newest id, so nothing falls in between.
  socket.join(roomId, () => list.lastId);

  return {
    destroy() {
      socket.leave(roomId);
      socket.removeEventListener('frame', onFrame);
      socket.removeEventListener('state', onState);
      document.removeEventListener('visibilitychange', onVisibility);
      wide.removeEventListener('change', onLayoutChange);
      clearInterval(expiryCheck);
      header.destroy();
      typing.destroy();
      list.destroy();
    },
  };
}
