// confab's service worker: it shows Web Push notifications and opens the room
// when one is clicked. Nothing else on purpose: no fetch handler, no caches,
// no offline pages (the app needs its server anyway), so a new release is
// never hidden behind a stale cache.
//
// A classic script rather than a module, because module service workers are
// not supported by every browser yet; hence its few helpers are its own (the
// page's in-tab notifications word themselves the same way, in
// js/notifications/text.js).

const ICON = '/favicon.svg';
/** The notification shown for a push whose payload cannot be read. */
const GENERIC = { title: 'New message', body: 'You have a new message in confab.', tag: 'confab' };

// No caches to migrate, so a new version may take over at once.
self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('push', (event) => {
  event.waitUntil(showPush(event.data));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openAt(event.notification.data ?? {}));
});

self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(resubscribe(event).catch(() => {
    // Best effort: the page subscribes again the next time it is opened.
  }));
});

/** The app's location of a room, at one of its messages: `/#/room/ID/message/MID`. */
function roomUrl(room, message) {
  const at = message ? `/message/${encodeURIComponent(message)}` : '';
  return `/#/room/${encodeURIComponent(room)}${at}`;
}

/**
 * The payload the server sends (`{type:"message", room, room_name, room_kind,
 * sender, body, message, mention}`) as a notification; null when it is not one.
 */
function describe(payload) {
  if (!payload || payload.type !== 'message') return null;
  const { room, room_name: roomName, room_kind: kind, sender, body, message, mention } = payload;
  if (typeof room !== 'string' || !room || typeof sender !== 'string' || !sender) return null;
  let title;
  if (kind === 'direct') title = mention ? `${sender} mentioned you` : sender;
  else if (typeof roomName === 'string' && roomName) {
    title = mention ? `${sender} mentioned you in #${roomName}` : `${sender} in #${roomName}`;
  } else title = mention ? `${sender} mentioned you` : sender;
  return {
    title,
    body: typeof body === 'string' ? body : '',
    tag: `room:${room}`,
    data: { room, message: typeof message === 'string' ? message : null },
  };
}

async function showPush(data) {
  let payload = null;
  try {
    payload = data ? data.json() : null;
  } catch {
    // Not JSON: shown as a generic notification below.
  }
  let shown = describe(payload) ?? { ...GENERIC, data: {} };
  let renotify = true;
  try {
    // An open tab may have announced this message, or a newer one of the
    // room, already (its in-tab notification shares the tag; the server
    // pushes only what stayed unread for a while). Then that notification is
    // shown again, silently: a push must still show one, or the browser
    // shows its own, but it should neither alert twice nor go back in time.
    // Message ids sort in send order.
    const newer = shown.data.message ? await newestShown(shown.tag) : null;
    if (newer && newer.data.message >= shown.data.message) {
      shown = { title: newer.title, body: newer.body, tag: newer.tag, data: newer.data };
      renotify = false;
    }
    await self.registration.showNotification(shown.title, {
      body: shown.body,
      tag: shown.tag,
      data: shown.data,
      icon: ICON,
      renotify,
    });
  } catch {
    // E.g. permission withdrawn meanwhile: there is nothing else to show it with.
  }
}

/** The notification on screen with this tag that is about the newest message, or null. */
async function newestShown(tag) {
  const shown = await self.registration.getNotifications({ tag });
  let newest = null;
  for (const n of shown) {
    if (typeof n.data?.message === 'string' && (!newest || n.data.message > newest.data.message)) newest = n;
  }
  return newest;
}

/**
 * Brings a confab tab to the front and has it open the room, or opens a new
 * tab there. The tab routes by itself (a message, not a reload), so it keeps
 * its session, socket and unsent drafts.
 */
async function openAt({ room, message }) {
  const url = room ? roomUrl(room, message) : '/';
  const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const tab = tabs.find((c) => c.visibilityState === 'visible') ?? tabs[0];
  if (!tab) {
    await self.clients.openWindow(url);
    return;
  }
  try {
    await tab.focus();
  } catch {
    // Focus can be refused (no user activation left); the tab still navigates.
  }
  if (room) tab.postMessage({ type: 'confab:open', room, message: message ?? null });
}

/**
 * The push service replaced (or dropped) the subscription: subscribe again
 * with the same server key and tell the server, dropping the old endpoint.
 */
async function resubscribe(event) {
  const old = event.oldSubscription;
  let subscription = event.newSubscription;
  if (!subscription) {
    let key = old?.options?.applicationServerKey;
    if (!key) {
      const res = await fetch('/api/push/key', { credentials: 'same-origin' });
      if (!res.ok) return;
      key = (await res.json()).public_key;
    }
    subscription = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  }
  const json = { 'Content-Type': 'application/json', Accept: 'application/json' };
  await fetch('/api/push/subscriptions', {
    method: 'POST',
    credentials: 'same-origin',
    headers: json,
    body: JSON.stringify(subscription.toJSON()),
  });
  if (old && old.endpoint !== subscription.endpoint) {
    await fetch('/api/push/subscriptions', {
      method: 'DELETE',
      credentials: 'same-origin',
      headers: json,
      body: JSON.stringify({ endpoint: old.endpoint }),
    });
  }
}
