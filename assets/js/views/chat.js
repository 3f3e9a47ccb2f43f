// The chat screen for one room: wires the REST history, the WebSocket frames,
// the outbox of pending sends, the replay cursor, the read marker and the UI
// parts (header, messages and their actions, typing, reply bar, composer,
// members panel) together.

import { api } from '../api.js';
import { rememberBots } from '../bots.js';
import { createComposer } from '../chat/composer.js';
import { createDropZone } from '../chat/drop-zone.js';
import { EmojiPicker } from '../chat/emoji-picker.js';
import { createHeader } from '../chat/header.js';
import { Members } from '../chat/members.js';
import { enableLongPress } from '../chat/message-actions.js';
import { MessageList } from '../chat/message-list.js';
import { createMessageOps } from '../chat/message-ops.js';
import { Outbox } from '../chat/outbox.js';
import { ReadMarker } from '../chat/read-marker.js';
import { ReplayCursor } from '../chat/replay-cursor.js';
import { createReplyBar } from '../chat/reply-bar.js';
import { createRoomActions } from '../chat/room-actions.js';
import { TypingIndicator } from '../chat/typing.js';
import { KeyFollower, openEncryptedRoom, SealedSends } from '../crypto/chat-e2e.js';
import { createEncryptionBar, showLockedNotice } from '../crypto/room-bar.js';
import { confirmDialog } from '../dialog.js';
import { h, icon } from '../dom.js';
import { parseDate } from '../format.js';
import { composerLabel, roomTitle } from '../rooms-store.js';
import { setTitle } from '../title.js';
import { toast } from '../toast.js';
import { roomLabel, showNotice, startText } from './chat-text.js';
import { describeMembershipError, messageUser } from './new-conversation.js';

const PAGE = 50;
const WIDE_LAYOUT = '(min-width: 1100px)';
const EXPIRY_CHECK_MS = 10_000;

/**
 * @param ctx       { user, socket, rooms, navigate }
 * @param messageId a message to scroll to and highlight once the room is open (a notification's or a
 *                  search hit's), or null
 * @returns { destroy, showMessage(id) }
 */
export function mountChat(outlet, ctx, roomId, messageId = null) {
  const page = h('div', { class: 'page chat-page' });
  outlet.replaceChildren(page);
  let destroyed = false;
  let view = null;
  /** The message to show once the room is loaded. */
  let pendingMessage = messageId;

  const showLoading = () => {
    setTitle('Loading… · confab');
    page.replaceChildren(
      h('div', { class: 'chat-loading', role: 'status' }, h('span', { class: 'spinner' }), 'Loading room…'),
    );
  };
  const showProblem = (title, text, retry) => showNotice(page, title, text, retry ? load : null);

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
        showProblem(
          'Room not found',
          'This room does not exist any more (it expired or was deleted), or it is private and you are not a member.',
          false,
        );
      } else showProblem('Could not open the room', error.message, true);
      return;
    }
    if (destroyed) return;
    let e2e = null;
    if (room.encrypted) {
      let opened;
      try {
        opened = await openEncryptedRoom(ctx.user.username, roomId, messages);
      } catch (error) {
        if (!destroyed) showProblem('Could not open the encryption key', error.message, true);
        return;
      }
      if (destroyed) {
        opened?.e2e.close();
        return;
      }
      if (!opened) {
        showLockedNotice(page, load);
        return;
      }
      ({ e2e, messages } = opened);
    }
    view = chatView(page, ctx, room, messages, e2e, () => {
      // This browser's key was reset elsewhere: ask again.
      view?.destroy();
      view = null;
      load();
    });
    if (pendingMessage) view.showMessage(pendingMessage, { smooth: false });
    pendingMessage = null;
  }

  load();
  return {
    destroy() {
      destroyed = true;
      view?.destroy();
    },
    /** Scrolls to a message of this room and highlights it; when it cannot be found the room simply stays open. */
    showMessage(id) {
      if (view) view.showMessage(id);
      else pendingMessage = id;
    },
  };
}

/**
 * The live chat once the room and its newest messages are loaded.
 * @param e2e      in an end-to-end encrypted room, its RoomSession (messages in
 *                 `history` already opened with it), else null
 * @param onLocked () => void: the encryption key here turned out stale
 */
function chatView(page, ctx, initialRoom, history, e2e = null, onLocked = () => {}) {
  const { socket, user } = ctx;
  const roomId = initialRoom.id;
  let room = initialRoom;
  let joined = false;
  let hasJoinedOnce = false;
  let gone = false;
  /** Set while this user leaves on purpose: their own `removed` frame is then expected. */
  let leaving = false;
  let membersSeq = 0;
  let membersChoice = null; // null: follow the layout; true/false: the user's toggle
  const wide = matchMedia(WIDE_LAYOUT);
  const me = user.username;
  /** What `join` resumes from after a reconnect: the highest change number seen. */
  const cursor = new ReplayCursor();
  for (const message of history) cursor.see(message);
  /** Encrypted rooms decrypt before they show: their frames (and re-shows) run one after another, in order. */
  let frameQueue = Promise.resolve();

  // The unread count in front comes from the rooms store (title.js).
  const updateTitle = () => setTitle(`${roomLabel(room, me)} · confab`);
  // The room as just loaded is the freshest read state the sidebar can have.
  if (ctx.rooms.get(roomId)) {
    const { unread_count, mention_count, last_read, last_message, notifications } = room;
    ctx.rooms.upsert({ id: roomId, unread_count, mention_count, last_read, last_message, notifications });
  }
  /** Owners and admins may delete the room and remove members; nobody removes others from a direct room. */
  const canManage = () => room.role === 'owner' || user.is_admin;

  const header = createHeader({
    me,
    canDelete: (room.kind !== 'direct' && room.role === 'owner') || user.is_admin,
    onDelete: () => deleteRoom(),
    onToggleMembers: () => {
      membersChoice = !membersVisible();
      applyMembers();
    },
    onNotifications: (level) => {
      room = { ...room, notifications: level };
      ctx.rooms.upsert({ id: roomId, notifications: level });
    },
  });
  const picker = new EmojiPicker();
  const ops = createMessageOps({
    socket,
    roomId,
    user,
    role: () => room.role,
    isJoined: () => joined,
    rowOf: (id) => list.row(id),
    picker,
    onReply: (message) => startReply(message),
    e2e: e2e && {
      seal: (text) => e2e.seal(text, members.memberNames),
      token: (message, emoji) => e2e.token(message, emoji),
    },
  });
  /** Messages from the server as shown: opened with the room key in an encrypted room. */
  const shown = async (messages) => (e2e ? e2e.openAll(messages) : messages);
  const list = new MessageList({
    start: startText(room, me),
    me,
    onLoadOlder: async (before) => {
      const older = await api.messages(roomId, { before, limit: PAGE });
      return { messages: await shown(older), reachedStart: older.length < PAGE };
    },
    onLoadNewer: async (after) => {
      const newer = await api.messages(roomId, { after, limit: PAGE });
      return { messages: await shown(newer), reachedEnd: newer.length < PAGE };
    },
    onLoadAround: async (id) => shown(await api.messages(roomId, { around: id, limit: PAGE })),
    onLoadLatest: async () => {
      const latest = await api.messages(roomId, { limit: PAGE });
      return { messages: await shown(latest), reachedStart: latest.length < PAGE };
    },
    onAuthor: (author) => messageUser(ctx, author),
    actions: { ...ops, onEditClosed: () => composer.focus() },
  });
  const longPress = enableLongPress(list.scroller);
  const sealedSends = e2e && new SealedSends({ e2e, socket, roomId, memberNames: () => members.memberNames });
  const outbox = new Outbox(list.pending, (nonce, body, replyTo, attachments) => {
    if (!joined) return false;
    if (sealedSends) return sealedSends.transmit(nonce, body, replyTo);
    return socket.send({
      type: 'send',
      room: roomId,
      body,
      nonce,
      ...(replyTo && { reply_to: replyTo }),
      ...(attachments.length > 0 && { attachments }),
    });
  });
  sealedSends?.attach(outbox);
  const typing = new TypingIndicator();
  const members = new Members(me, {
    onMessage: (username) => messageUser(ctx, username),
    onRemove: (username, button) => removeMember(username, button),
  });
  const actions = createRoomActions(room, {
    exclude: () => new Set([me, ...members.memberNames]),
    onAdded: () => loadMembers(),
    onLeave: (button) => leaveRoom(button),
  });
  const replyBar = createReplyBar(() => composer.focus());
  const composer = createComposer(
    composerLabel(room, me),
    (body, attachments) => {
      outbox.add(body, replyBar.replyTo, attachments);
      replyBar.clear();
      list.scrollToBottom();
    },
    () => {
      if (joined) socket.send({ type: 'typing', room: roomId });
    },
    {
      onArrowUpEmpty: () => list.lastEditable()?.startEdit() ?? false,
      onEscape: () => {
        if (!replyBar.replyTo) return false;
        replyBar.clear();
        return true;
      },
      mentionable: () => members.memberNames.filter((name) => name !== me),
      upload: (file, name, onProgress) => api.uploadAttachment(roomId, file, name, onProgress),
      // The server refuses files in encrypted rooms: it would have to see them.
      attachments: !room.encrypted,
    },
  );
  const encryptionBar =
    e2e && createEncryptionBar({ session: e2e, me, members: () => members.memberNames, direct: room.kind === 'direct' });
  const keyFollower =
    e2e &&
    new KeyFollower({
      e2e,
      list,
      composer,
      bar: encryptionBar,
      isGone: () => gone,
      enqueue: (work) => {
        frameQueue = frameQueue.then(work).catch((error) => reportError(error));
      },
    });
  for (const message of e2e ? history : []) keyFollower.track(message);
  function startReply(message) {
    if (gone) return;
    replyBar.set(message);
    composer.focus();
  }
  const banner = h('div', { class: 'banner', role: 'alert', hidden: true });
  const offline = h('div', { class: 'chat-offline', hidden: true });
  const closeMembers = h(
    'button',
    { class: 'icon-btn members-close', type: 'button', 'aria-label': 'Close members' },
    icon('close'),
  );
  closeMembers.addEventListener('click', () => {
    membersChoice = false;
    applyMembers();
  });
  const panel = h(
    'aside',
    { id: 'members-panel', class: 'members-panel', 'aria-label': 'Members' },
    closeMembers,
    members.el,
    actions.el,
  );
  const chatBody = h(
    'div',
    { class: 'chat-body' },
    h('div', { class: 'chat-main' }, list.el, typing.el, offline, replyBar.el, composer.el),
    panel,
  );
  const section = h(
    'section',
    { class: 'chat', 'aria-label': room.kind === 'direct' ? `Conversation with ${roomTitle(room, me)}` : `Room ${room.name}` },
    header.el,
    encryptionBar?.el,
    banner,
    chatBody,
  );
  const dropZone = createDropZone(section, {
    label: () => `Drop files to share them in ${roomLabel(room, me)}`,
    enabled: () => !gone && !room.encrypted,
    onFiles: (files) => composer.addFiles(files),
  });
  chatBody.append(dropZone.el);

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
  list.setHistory(history, history.length < PAGE, room.unread_count > 0 ? (room.last_read ?? '') : null);
  const readMarker = new ReadMarker({ socket, rooms: ctx.rooms, room, list });
  const stopReading = ctx.rooms.setReader(roomId, (id) => readMarker.reads(id));
  readMarker.check();
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
    replyBar.clear();
    picker.close({ restoreFocus: false });
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

  /**
   * This user's membership ended elsewhere (removed by an owner or admin, or
   * left in another tab): the room is no longer theirs to read, so the chat is
   * replaced by a notice saying so.
   */
  function setRemoved() {
    if (gone) return;
    gone = true;
    joined = false;
    ctx.rooms.forget(roomId);
    outbox.failAll('not_found');
    teardown();
    const label = roomLabel(room, me);
    showNotice(
      page,
      room.kind === 'direct' ? `You left the conversation with ${label}` : `You are no longer a member of ${label}`,
      room.kind === 'public'
        ? 'You were removed from this room. You can join it again from the rooms list.'
        : 'You were removed from this room, or left it elsewhere, and can no longer read or post in it. A member can add you again or send you an invite link.',
      null,
    );
  }

  /** Fetches the member list again (after someone joined, left, or was added or removed). */
  async function loadMembers() {
    const mine = ++membersSeq;
    let roster;
    try {
      roster = await api.members(roomId);
    } catch {
      return; // a lost membership arrives as a `removed` frame; the panel keeps its last list
    }
    if (gone || mine !== membersSeq) return;
    rememberBots(roster);
    const role = roster.find((m) => m.username === me)?.role;
    if (role && role !== room.role) {
      room = { ...room, role };
      ctx.rooms.upsert({ id: roomId, role });
      list.refreshActions();
    }
    header.setCanDelete((room.kind !== 'direct' && room.role === 'owner') || user.is_admin);
    members.setRoster(roster, {
      canRemove: () => room.kind !== 'direct' && canManage(),
      canMessage: room.kind !== 'direct',
      showRoles: room.kind !== 'direct',
    });
    // A member added or removed: they get the room key, or it moves to a new version.
    if (e2e) {
      e2e.refresh();
      encryptionBar.checkTrust();
    }
  }
  const onKeyLocked = () => {
    if (!gone) onLocked();
  };

  async function removeMember(username, button) {
    const ok = await confirmDialog({
      title: `Remove ${username} from ${roomLabel(room, me)}?`,
      text:
        room.kind === 'public'
          ? 'They can join again, as anyone can join a public room.'
          : 'They lose access to the room and its history at once. A member can add them again later.',
      confirm: 'Remove',
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await api.removeMember(roomId, username);
      actions.say(`${username} was removed.`);
    } catch (error) {
      button.disabled = false;
      actions.say(
        error.code === 'last_owner' ? 'The last owner cannot be removed.' : describeMembershipError(error, username),
        'error',
      );
    }
    loadMembers();
  }

  async function leaveRoom(button) {
    const label = roomLabel(room, me);
    const texts = {
      public: 'You can join it again at any time from the rooms list.',
      private: 'To come back, a member has to add you again or send you an invite link.',
      direct: 'It disappears from your direct messages. The others keep it.',
    };
    const ok = await confirmDialog({
      title: room.kind === 'direct' ? `Leave the conversation with ${label}?` : `Leave ${label}?`,
      text: texts[room.kind] ?? texts.public,
      confirm: room.kind === 'direct' ? 'Leave conversation' : 'Leave room',
      danger: room.kind !== 'public',
    });
    if (!ok) return;
    button.disabled = true;
    leaving = true;
    try {
      await api.leaveRoom(roomId);
    } catch (error) {
      leaving = false;
      button.disabled = false;
      actions.say(describeMembershipError(error), 'error');
      return;
    }
    ctx.rooms.forget(roomId);
    toast(room.kind === 'direct' ? `You left the conversation with ${label}.` : `You left ${label}.`);
    ctx.navigate('#/rooms');
  }

  async function deleteRoom() {
    const ok = await confirmDialog({
      title: `Delete ${roomLabel(room, me)}?`,
      text: 'Everyone in the room is told, and all its messages are deleted for good.',
      confirm: 'Delete room',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.deleteRoom(roomId);
      ctx.rooms.remove(roomId);
      toast(`${roomLabel(room, me)} was deleted.`);
      ctx.navigate('#/rooms');
    } catch (error) {
      toast(error.message || 'Could not delete the room.', 'error');
    }
  }

  const onFrame = ({ detail: frame }) => {
    if (!e2e) {
      handleFrame(frame);
      return;
    }
    frameQueue = frameQueue.then(() => handleFrame(frame)).catch((error) => reportError(error));
  };

  async function handleFrame(frame) {
    if (gone) return;
    switch (frame.type) {
      case 'joined': {
        if (frame.room?.id !== roomId) return;
        // The server replays everything after our `after` cursor, in pages,
        // before live delivery resumes: no catch-up request is needed.
        joined = true;
        hasJoinedOnce = true;
        cursor.replayStarts();
        room = { ...room, ...frame.room };
        list.refreshActions();
        header.setRoom(room);
        members.set(frame.online ?? []);
        outbox.flush();
        break;
      }
      case 'replay_done':
        if (frame.room === roomId) cursor.replayDone(frame.cursor);
        break;
      case 'room_updated': {
        if (frame.room?.id !== roomId) return;
        const countChanged = frame.room.member_count !== room.member_count;
        // Shared by all subscribers: it has no caller-specific `role` or `is_member`.
        const { role: _role, is_member: _isMember, ...shared } = frame.room;
        room = { ...room, ...shared };
        header.setRoom(room);
        list.setStart(startText(room, me));
        updateTitle();
        if (countChanged) loadMembers();
        break;
      }
      case 'removed':
        if (frame.room === roomId && !leaving) setRemoved();
        break;
      case 'message': {
        // New, or (replayed after a rejoin) the current state of one that changed meanwhile.
        if (frame.message?.room !== roomId) return;
        const message = e2e ? await e2e.open(frame.message) : frame.message;
        if (gone) return;
        if (frame.nonce) {
          outbox.ack(frame.nonce);
          sealedSends?.acked(frame.nonce);
        }
        cursor.see(message);
        keyFollower?.track(message);
        if (list.upsert(message, { own: Boolean(frame.nonce) }) === 'added') {
          typing.clear(message.author);
          ctx.rooms.touch(roomId, message.sent_at);
          ctx.rooms.noteMessage(roomId, message, me);
          readMarker.check();
        }
        break;
      }
      case 'read':
        if (frame.room === roomId && frame.message) readMarker.readElsewhere(frame.message);
        break;
      case 'message_updated': {
        if (frame.message?.room !== roomId) return;
        const message = e2e ? await e2e.open(frame.message) : frame.message;
        if (gone) return;
        cursor.see(message);
        keyFollower?.track(message);
        list.upsert(message);
        ops.settled(frame);
        break;
      }
      case 'typing':
        if (frame.room === roomId && frame.user !== user.username) typing.show(frame.user);
        break;
      case 'presence':
        if (frame.room !== roomId) return;
        members.setOnline(frame.user, frame.online);
        // Opening a public room joins it: a new face is probably a new member.
        if (frame.online && !members.isMember(frame.user)) loadMembers();
        // Someone arriving may have set up or reset their key: share it, check it.
        if (frame.online && e2e && frame.user !== me) {
          e2e.refresh();
          encryptionBar.checkTrust();
        }
        break;
      case 'room_key':
        // Keys were stored for us, or the room moved to a new key version.
        if (frame.room === roomId) e2e?.refresh();
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
  }

  function onError(frame) {
    // Sealed with a key version the room has left: fetch the new key, seal again.
    if (sealedSends?.refused(frame)) return;
    if (frame.nonce && outbox.has(frame.nonce)) {
      outbox.fail(frame.nonce, frame.code, frame.message);
      return;
    }
    if (ops.refused(frame)) return;
    if (frame.code === 'not_found' && !joined) setGone('deleted');
    else if (frame.code === 'not_joined') socket.join(roomId, () => cursor.value);
    else if (frame.code !== 'rate_limited') toast(frame.message || `Server error: ${frame.code}`, 'error');
  }

  const onState = () => {
    const connected = socket.state === 'open';
    if (!connected) {
      joined = false;
      outbox.markDisconnected();
      ops.connectionLost();
    }
    members.setStale(hasJoinedOnce && !connected);
    // A first "connecting" is normal page start; say "lost" only once a retry is pending.
    offline.hidden = connected || gone || socket.state === 'connecting';
    offline.replaceChildren(
      icon('alert'),
      h('span', {}, h('strong', {}, 'Connection lost.'), ' Messages you write now are sent when it is back.'),
    );
  };
  const expiryCheck = setInterval(() => {
    if (parseDate(room.expires_at).getTime() <= Date.now()) setGone('expired');
  }, EXPIRY_CHECK_MS);

  socket.addEventListener('frame', onFrame);
  socket.addEventListener('state', onState);
  onState();
  if (e2e) {
    e2e.addEventListener('change', keyFollower.onKeys);
    e2e.keyring.addEventListener('locked', onKeyLocked);
    keyFollower.onKeys();
  }
  wide.addEventListener('change', onLayoutChange);
  // Join after the REST page with `after` = the cursor: what changed or arrived
  // since the page was read is replayed, so nothing falls in between.
  socket.join(roomId, () => cursor.value);

  loadMembers();

  /** Stops everything this view started; safe to call twice. */
  function teardown() {
    socket.leave(roomId);
    socket.removeEventListener('frame', onFrame);
    socket.removeEventListener('state', onState);
    if (e2e) {
      e2e.removeEventListener('change', keyFollower.onKeys);
      e2e.keyring.removeEventListener('locked', onKeyLocked);
      e2e.close();
      encryptionBar.destroy();
    }
    stopReading();
    readMarker.destroy();
    wide.removeEventListener('change', onLayoutChange);
    clearInterval(expiryCheck);
    header.destroy();
    typing.destroy();
    list.destroy();
    composer.destroy();
    dropZone.destroy();
    longPress.destroy();
    picker.destroy();
  }

  return {
    destroy: teardown,
    showMessage: (id, { smooth = true } = {}) => list.jumpTo(id, { quiet: true, smooth }),
  };
}
