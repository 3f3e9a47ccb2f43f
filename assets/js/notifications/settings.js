// Whether the signed-in user gets browser notifications in this browser, and
// how: the browser's permission, the user's own on/off choice, and whether Web
// Push works here.
//
// The choice is kept in localStorage per username, because the permission
// alone cannot say "off": a site cannot withdraw a permission it was given.
// Turning notifications off ends the push subscription, on the server too.
// Signing out ends it as well (the browser may be shared), but keeps the
// choice, so signing in again subscribes again without asking.

import { toast } from '../toast.js';
import { dropPush, PushUnavailable, pushSupported, syncPush } from './push.js';
import { activeRegistration, registerWorker, workerSupported } from './worker.js';

/**
 * `state`:
 * - `supported`  false when this browser (or an insecure page) cannot show notifications at all
 * - `permission` 'default' | 'granted' | 'denied'
 * - `enabled`    the user's choice (on only counts with the permission granted: see `active`)
 * - `push`       'off' | 'checking' | 'on' | 'unavailable'
 * - `pushReason` why push is unavailable, as the end of a sentence for the user
 *
 * Event: `change` when anything in `state` changed.
 */
export class NotificationSettings extends EventTarget {
  #key;
  #state;
  #busy = false;

  /** @param username whose choice this is */
  constructor(username) {
    super();
    this.#key = `confab.notifications.${username}`;
    const supported = 'Notification' in window && window.isSecureContext;
    this.#state = {
      supported,
      permission: supported ? Notification.permission : 'denied',
      enabled: supported && readChoice(this.#key),
      push: 'off',
      pushReason: '',
    };
  }

  get state() {
    return this.#state;
  }

  /** Whether notifications are to be shown now: wanted and allowed (asked live: site settings change behind the page's back). */
  get active() {
    return this.#state.enabled && this.#permission() === 'granted';
  }

  /** Reads the browser's permission again (the toggle does when its panel opens). */
  refresh() {
    this.#set({ permission: this.#permission() });
  }

  /** A change of the state is under way (the toggle waits). */
  get busy() {
    return this.#busy;
  }

  /**
   * After sign-in or a reload: shows what is already true and, when the user
   * wants notifications, makes sure the push subscription matches the
   * server's key and is registered for this user. Quiet: no toasts.
   */
  async start() {
    this.refresh();
    if (!this.active) return;
    await this.#syncPush();
  }

  /**
   * Turns notifications on. Call it straight from a click: browsers grant the
   * permission prompt only to a user gesture.
   */
  async enable() {
    if (!this.#state.supported || this.#busy) return;
    this.#busy = true;
    try {
      let permission = this.#permission();
      if (permission === 'default') permission = await Notification.requestPermission();
      this.#set({ permission });
      if (permission === 'denied') {
        toast('Notifications are blocked for this site. Allow them in your browser’s site settings.', 'error');
        return;
      }
      if (permission !== 'granted') {
        toast('Notifications stay off: the browser was not allowed to show them.');
        return;
      }
      writeChoice(this.#key, true);
      this.#set({ enabled: true });
      await this.#syncPush();
      if (this.#state.push === 'unavailable') {
        toast(`Notifications are on while confab is open in a tab. Push is unavailable: ${this.#state.pushReason}`);
      } else toast('Notifications are on.');
    } finally {
      this.#busy = false;
      this.#emit();
    }
  }

  /** Turns notifications off: no more in-tab notifications, and the push subscription ends. */
  async disable() {
    if (this.#busy) return;
    this.#busy = true;
    try {
      writeChoice(this.#key, false);
      this.#set({ enabled: false });
      await dropPush(await activeRegistration(), { tellServer: true });
      this.#set({ push: 'off', pushReason: '' });
    } finally {
      this.#busy = false;
      this.#emit();
    }
  }

  /**
   * The user signs out (or the session ended): this browser stops getting
   * their pushes. With `sessionValid` the server is told first.
   */
  async signOut({ sessionValid }) {
    await dropPush(await activeRegistration(), { tellServer: sessionValid }).catch(() => {});
  }

  /** Registers the worker and subscribes; records the outcome in `push`. */
  async #syncPush() {
    if (!workerSupported() || !pushSupported()) {
      this.#set({ push: 'unavailable', pushReason: 'this browser does not support push.' });
      // In-tab notifications still work; they are shown without the worker.
      return;
    }
    this.#set({ push: 'checking', pushReason: '' });
    try {
      await syncPush(await registerWorker());
      this.#set({ push: 'on' });
    } catch (error) {
      const reason =
        error instanceof PushUnavailable ? error.message : 'the service worker could not be started.';
      this.#set({ push: 'unavailable', pushReason: reason });
    }
  }

  /** The browser's permission now (the user may have changed it in the site settings). */
  #permission() {
    return this.#state.supported ? Notification.permission : 'denied';
  }

  #set(changes) {
    const next = { ...this.#state, ...changes };
    if (Object.keys(changes).every((key) => next[key] === this.#state[key])) return;
    this.#state = next;
    this.#emit();
  }

  #emit() {
    this.dispatchEvent(new CustomEvent('change'));
  }
}

function readChoice(key) {
  try {
    return localStorage.getItem(key) === 'on';
  } catch {
    return false; // storage blocked: ask again next time
  }
}

function writeChoice(key, on) {
  try {
    localStorage.setItem(key, on ? 'on' : 'off');
  } catch {
    // Storage blocked: the choice lasts for this page only.
  }
}
