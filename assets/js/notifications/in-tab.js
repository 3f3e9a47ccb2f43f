// Notifications while a confab tab is open but hidden (another tab in front,
// the window minimized): the WebSocket's `room_activity` frames announce every
// new message in the user's rooms, joined in this tab or not, and each room's
// notification level says which of them concern the user:
//   all       every message from someone else
//   mentions  only those that mention the user or @room
//   none      nothing
//
// One message gives at most one notification: a room's newest announced id is
// remembered, and with several confab tabs open only one of them (the holder
// of a Web Lock, handed on when it closes) notifies. The notification goes
// through the service worker when there is one, so it shares its tag with the
// push notification about the same message and a click is handled in one
// place; without a worker it is a plain `new Notification`.

import { mentionsUser } from '../rooms-store.js';
import { messageNotification } from './text.js';
import { activeRegistration } from './worker.js';

const LEADER_LOCK = 'confab:in-tab-notifications';
const ICON = '/favicon.svg';

export class InTabNotifier {
  #socket;
  #rooms;
  #settings;
  #me;
  #onOpen;
  /** room id -> the newest message id already considered. */
  #announced = new Map();
  /** room id -> mention_count of its last frame: a rise means a mention, even when frames were coalesced. */
  #mentions = new Map();
  #leader = false;
  #abortLeading = null;
  #stopLeading = null;
  #onFrame = ({ detail: frame }) => this.#applyFrame(frame);

  /**
   * @param opts.socket   the ChatSocket
   * @param opts.rooms    the RoomsStore (each room's kind, name and level)
   * @param opts.settings the NotificationSettings (wanted and allowed?)
   * @param opts.me       the signed-in username
   * @param opts.onOpen   ({ room, message }) => void, when a notification shown without the worker is clicked
   */
  constructor({ socket, rooms, settings, me, onOpen }) {
    this.#socket = socket;
    this.#rooms = rooms;
    this.#settings = settings;
    this.#me = me;
    this.#onOpen = onOpen;
  }

  start() {
    this.#socket.addEventListener('frame', this.#onFrame);
    this.#lead();
  }

  stop() {
    this.#socket.removeEventListener('frame', this.#onFrame);
    this.#abortLeading?.abort();
    this.#stopLeading?.();
    this.#leader = false;
  }

  /** Waits for the lock; the tab holding it notifies until it stops or closes. */
  #lead() {
    if (!navigator.locks) {
      this.#leader = true; // no Web Locks: every tab notifies
      return;
    }
    this.#abortLeading = new AbortController();
    navigator.locks
      .request(LEADER_LOCK, { signal: this.#abortLeading.signal }, () => {
        this.#leader = true;
        return new Promise((resolve) => {
          this.#stopLeading = resolve;
        });
      })
      .catch(() => {
        // Aborted by stop() while waiting.
      });
  }

  #applyFrame(frame) {
    if (frame.type === 'read' && typeof frame.room === 'string') {
      this.#mentions.set(frame.room, 0);
      return;
    }
    if (frame.type !== 'room_activity' || typeof frame.room !== 'string') return;
    const message = frame.last_message;
    if (!message?.id) return;
    const mentionsBefore = this.#mentions.get(frame.room);
    const mentionsNow = frame.mention_count ?? 0;
    this.#mentions.set(frame.room, mentionsNow);
    const announced = this.#announced.get(frame.room);
    if (announced && message.id <= announced) return;
    this.#announced.set(frame.room, message.id);

    const mentioned = mentionsUser(message, this.#me) || (mentionsBefore !== undefined && mentionsNow > mentionsBefore);
    if (!this.#concernsUser(frame, message, mentioned)) return;
    this.#show(messageNotification(this.#rooms.get(frame.room), message, mentioned));
  }

  #concernsUser(frame, message, mentioned) {
    if (!this.#settings.active || !this.#leader || document.visibilityState !== 'hidden') return false;
    if (message.author === this.#me && !message.webhook) return false;
    // Read already (on another device) by the time it was announced.
    if (frame.unread_count === 0) return false;
    const room = this.#rooms.get(frame.room);
    // The server's defaults for a room whose level the list has not brought yet.
    const level = room?.notifications ?? (room?.kind === 'direct' ? 'all' : 'mentions');
    if (level === 'all') return true;
    return level === 'mentions' && mentioned;
  }

  async #show(note) {
    const options = { body: note.body, tag: note.tag, data: note.data, icon: ICON, renotify: true };
    try {
      const registration = await activeRegistration();
      if (registration) {
        // A push about this message (or a newer one of the room) got here
        // first: it is on screen already. Message ids sort in send order.
        const shown = await registration.getNotifications({ tag: note.tag });
        if (shown.some((n) => typeof n.data?.message === 'string' && n.data.message >= note.data.message)) return;
        await registration.showNotification(note.title, options);
        return;
      }
      const notification = new Notification(note.title, options);
      notification.addEventListener('click', () => {
        window.focus();
        notification.close();
        this.#onOpen(note.data);
      });
    } catch {
      // Permission withdrawn meanwhile, or a browser that only notifies
      // through a worker (Android) without one: nothing to show it with.
    }
  }
}
