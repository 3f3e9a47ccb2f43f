// This browser's Web Push subscription: made with the server's VAPID key,
// registered with the server, and dropped again. Push is optional: when it
// cannot be had (the server turned it off, no push service is reachable, a
// private window), the functions here throw a PushUnavailable saying why in
// words for the user, and notifications still work while a tab is open.

import { api } from '../api.js';

/** A subscription attempt that hangs (no push service answers) gives up after this long. */
const SUBSCRIBE_TIMEOUT_MS = 15_000;

/** Push cannot be used; `message` says why, for the user. */
export class PushUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = 'PushUnavailable';
  }
}

/** Whether this browser has the Push API at all. */
export function pushSupported() {
  return 'PushManager' in window;
}

/**
 * Makes sure this browser is subscribed with the server's current key and that
 * the server knows the subscription (for the signed-in user). A subscription
 * made with another key (the server's key was regenerated, or a backup
 * restored) can no longer be pushed to: it is replaced.
 * @param registration the active service worker registration
 * @throws PushUnavailable
 */
export async function syncPush(registration) {
  if (!registration.pushManager) throw new PushUnavailable('this browser does not support push.');
  const key = await serverKey();
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options?.applicationServerKey, key)) {
    await forget(subscription, { tellServer: true });
    subscription = null;
  }
  if (!subscription) {
    try {
      subscription = await withTimeout(
        registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }),
        SUBSCRIBE_TIMEOUT_MS,
      );
    } catch {
      // AbortError/NotAllowedError: no push service (offline, headless, a
      // private window) or the browser refused; the reason is not actionable.
      throw new PushUnavailable('no push service can be reached from this browser.');
    }
  }
  try {
    await api.addPushSubscription(subscriptionBody(subscription));
  } catch (error) {
    // A subscription the server does not have would only mislead the next check.
    await forget(subscription, { tellServer: false });
    throw new PushUnavailable(`the server did not accept this browser (${error.message}).`);
  }
}

/**
 * Ends this browser's subscription, if any.
 * @param tellServer also remove it on the server (needs the session; false
 *                   when the session is already gone: the push service then
 *                   answers the server's next push with "gone")
 */
export async function dropPush(registration, { tellServer }) {
  const subscription = await registration?.pushManager?.getSubscription().catch(() => null);
  if (subscription) await forget(subscription, { tellServer });
}

/** The VAPID public key as bytes. */
async function serverKey() {
  let answer;
  try {
    answer = await api.pushKey();
  } catch (error) {
    if (error.code === 'push_disabled') throw new PushUnavailable('push is turned off on this server.');
    if (error.status === 404) throw new PushUnavailable('this server does not offer push.');
    throw new PushUnavailable(`the server's push key could not be read (${error.message}).`);
  }
  const key = base64UrlBytes(answer?.public_key ?? '');
  if (!key) throw new PushUnavailable('the server sent an invalid push key.');
  return key;
}

/** Unsubscribes at the push service and, if asked, at the server; failures are left for the next sync. */
async function forget(subscription, { tellServer }) {
  if (tellServer) {
    try {
      await api.removePushSubscription(subscription.endpoint);
    } catch {
      // 404: the server had forgotten it already. Otherwise the server drops
      // it on its next push, which the push service refuses once it is gone.
    }
  }
  await subscription.unsubscribe().catch(() => {});
}

/** What the server takes: exactly the endpoint and the keys of `toJSON()`. */
function subscriptionBody(subscription) {
  const { endpoint, keys } = subscription.toJSON();
  return { endpoint, keys: { p256dh: keys?.p256dh, auth: keys?.auth } };
}

/**
 * Whether a subscription's key (an ArrayBuffer, or null where the browser does
 * not say) is `key`. An unknown key counts as the same: replacing a working
 * subscription on every visit would be worse than keeping a stale one, which
 * the server's failed pushes reveal anyway.
 */
function sameKey(buffer, key) {
  if (!buffer) return true;
  const bytes = new Uint8Array(buffer);
  return bytes.length === key.length && bytes.every((b, i) => b === key[i]);
}

/** Unpadded base64url to bytes; null when it is not base64url. */
function base64UrlBytes(text) {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
