// Entry point: finds out who is signed in, then routes by location.hash.
//
// Routes (one page, because the server serves index.html only at `/`):
//   #/login, #/signup   when signed out
//   #/rooms             landing: join by name, live rooms
//   #/room/<id>         chat
//   #/room/<id>/message/<message id>
//                       chat, scrolled to that message, which flashes (a
//                       notification's or a search hit's target)
//   #/invite/<code>     accept an invite link, then open its room
//   #/settings/tokens   your personal access tokens

import { api, setUnauthorizedHandler } from './api.js';
import { forgetBots, loadBots } from './bots.js';
import { h } from './dom.js';
import { InTabNotifier } from './notifications/in-tab.js';
import { NotificationSettings } from './notifications/settings.js';
import { onOpenRequest } from './notifications/worker.js';
import { RoomsStore } from './rooms-store.js';
import { ChatSocket, socketUrl } from './socket.js';
import { setUnreadTotal } from './title.js';
import { mountAuth } from './views/auth.js';
import { mountChat } from './views/chat.js';
import { mountInvite } from './views/invite.js';
import { mountRooms } from './views/rooms.js';
import { createShell } from './views/shell.js';
import { mountTokens } from './views/tokens.js';

const root = document.getElementById('app');

/** The signed-in session, or null. */
let session = null;
/** The mounted routed view ({ destroy }, and `showMessage(id)` for a chat). */
let current = null;
/** The route `current` was mounted for. */
let currentTarget = null;
/** Where to go after logging in (a room or invite link opened while signed out). */
let afterLogin = null;

function parseRoute(hash) {
  const room = /^#\/room\/([^/?#]+)(?:\/message\/([^/?#]+))?$/.exec(hash);
  if (room) {
    return { view: 'chat', roomId: decodeURIComponent(room[1]), messageId: room[2] ? decodeURIComponent(room[2]) : null };
  }
  const invite = /^#\/invite\/([^/?#]+)$/.exec(hash);
  if (invite) return { view: 'invite', code: decodeURIComponent(invite[1]) };
  if (hash === '#/settings/tokens') return { view: 'tokens' };
  if (hash === '#/signup') return { view: 'signup' };
  if (hash === '#/login') return { view: 'login' };
  return { view: 'rooms' };
}

function navigate(hash, { replace = false } = {}) {
  if (location.hash === hash) {
    route();
    return;
  }
  if (replace) {
    history.replaceState(null, '', hash);
    route();
  } else location.hash = hash; // hashchange calls route()
}

/** The location of a room, at one of its messages when `message` is given. */
function roomHash(room, message) {
  const at = message ? `/message/${encodeURIComponent(message)}` : '';
  return `#/room/${encodeURIComponent(room)}${at}`;
}

/** Opens a room at a message (a notification was clicked). */
function openMessage({ room, message }) {
  navigate(roomHash(room, message));
}

function route() {
  const target = parseRoute(location.hash);
  // Another message of the room already open: scroll there, keep the view.
  if (session && target.messageId && currentTarget?.view === 'chat' && currentTarget.roomId === target.roomId) {
    currentTarget = target;
    current.showMessage(target.messageId);
    return;
  }
  current?.destroy();
  current = null;
  currentTarget = null;

  if (!session) {
    if (target.view === 'chat' || target.view === 'invite') afterLogin = location.hash;
    const mode = target.view === 'signup' ? 'signup' : 'login';
    if (target.view !== mode) history.replaceState(null, '', `#/${mode}`);
    current = mountAuth(root, mode, signedIn);
    return;
  }
  if (target.view === 'login' || target.view === 'signup') {
    history.replaceState(null, '', '#/rooms');
    target.view = 'rooms';
  }
  session.shell.setActive(target.view, target.roomId);
  const ctx = { user: session.user, socket: session.socket, rooms: session.rooms, navigate };
  currentTarget = target;
  if (target.view === 'chat') current = mountChat(session.shell.outlet, ctx, target.roomId, target.messageId);
  else if (target.view === 'invite') current = mountInvite(session.shell.outlet, ctx, target.code);
  else if (target.view === 'tokens') current = mountTokens(session.shell.outlet, ctx);
  else current = mountRooms(session.shell.outlet, ctx);
  session.shell.outlet.scrollTop = 0;
}

function signedIn(user) {
  const socket = new ChatSocket(socketUrl(), async () => (await api.me()) !== null || signedOut());
  const rooms = new RoomsStore();
  rooms.addEventListener('change', () => setUnreadTotal(rooms.unreadTotal));
  const notifications = new NotificationSettings(user.username);
  const notifier = new InTabNotifier({ socket, rooms, settings: notifications, me: user.username, onOpen: openMessage });
  session = { user, socket, rooms, notifications, notifier, shell: null };
  session.shell = createShell({ user, socket, rooms, notifications, signOut, navigate });
  current?.destroy();
  current = null;
  currentTarget = null;
  root.replaceChildren(session.shell.el);
  socket.start();
  rooms.start(socket);
  notifier.start();
  notifications.start();
  loadBots(api);
  const opened = parseRoute(location.hash).view;
  const next = afterLogin ?? (opened === 'chat' || opened === 'invite' ? location.hash : '#/rooms');
  afterLogin = null;
  navigate(next, { replace: true });
}

/** Tears the signed-in UI down and shows the login screen. Returns false (for the socket's session check). */
function signedOut() {
  if (!session) return false;
  current?.destroy();
  current = null;
  currentTarget = null;
  session.notifier.stop();
  // This browser stops getting the user's pushes (the session is gone, so
  // only the push service is told; an explicit log out told the server first).
  session.notifications.signOut({ sessionValid: false });
  session.socket.stop();
  session.rooms.stop();
  session.shell.destroy();
  session = null;
  setUnreadTotal(0);
  forgetBots();
  history.replaceState(null, '', '#/login');
  route();
  return false;
}

async function signOut() {
  await session?.notifications.signOut({ sessionValid: true });
  try {
    await api.logout();
  } catch {
    // Even if the server is unreachable, forget the session locally.
  }
  signedOut();
}

async function boot() {
  setUnauthorizedHandler(() => signedOut());
  window.addEventListener('hashchange', route);
  onOpenRequest(openMessage);
  let user;
  try {
    user = await api.me();
  } catch (error) {
    const retry = h('button', { class: 'btn btn-primary', type: 'button' }, 'Try again');
    retry.addEventListener('click', () => location.reload());
    root.replaceChildren(
      h(
        'main',
        { class: 'auth-screen' },
        h('div', { class: 'auth-card', role: 'alert' }, h('h1', {}, 'confab is not reachable'), h('p', {}, error.message), retry),
      ),
    );
    return;
  }
  if (user) signedIn(user);
  else route();
}

boot();
