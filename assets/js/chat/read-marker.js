// The open room's read marker: once the newest message is on screen while the
// tab is visible, the server is told (a `read` frame; REST when the socket is
// down) and the room's badges clear at once. Scrolling, new messages and
// visibility changes ask again; the request waits a moment, so a burst of
// messages or a scroll sends one frame, and only a marker that moves forward
// is sent at all (the server ignores older ones anyway).

import { api } from '../api.js';

const SETTLE_MS = 400;

export class ReadMarker {
  #socket;
  #rooms;
  #roomId;
  #list;
  /** The newest message id the server has been told about (or knew on open). */
  #marker;
  #timer = 0;
  #onScroll = () => this.check();
  #onVisible = () => this.check();

  /**
   * @param opts.socket   the ChatSocket
   * @param opts.rooms    the RoomsStore, whose badges for this room clear
   * @param opts.room     the room as loaded (its `last_read` is where the marker starts)
   * @param opts.list     the MessageList (what is loaded, what is on screen)
   */
  constructor({ socket, rooms, room, list }) {
    this.#socket = socket;
    this.#rooms = rooms;
    this.#roomId = room.id;
    this.#list = list;
    this.#marker = room.last_read ?? '';
    list.scroller.addEventListener('scroll', this.#onScroll, { passive: true });
    document.addEventListener('visibilitychange', this.#onVisible);
  }

  /** Sends the marker soon if the newest message is being seen and is past it. */
  check() {
    clearTimeout(this.#timer);
    if (!this.#due()) return;
    this.#timer = setTimeout(() => {
      if (this.#due()) this.#send(this.#list.lastId);
    }, SETTLE_MS);
  }

  /**
   * Whether `messageId` is read here already, or will be as soon as it is
   * shown: the marker is at or past it, or the reader is at the newest message
   * of a visible tab (a new message then scrolls into view and the marker
   * follows it). The rooms store asks, so live activity of this room does not
   * light a badge for a moment.
   */
  reads(messageId) {
    if (this.#marker && messageId <= this.#marker) return true;
    return document.visibilityState === 'visible' && this.#list.isAtBottom;
  }

  /** Another tab or device read up to `messageId`: no need to send that again. */
  readElsewhere(messageId) {
    if (messageId > this.#marker) this.#marker = messageId;
  }

  destroy() {
    clearTimeout(this.#timer);
    this.#list.scroller.removeEventListener('scroll', this.#onScroll);
    document.removeEventListener('visibilitychange', this.#onVisible);
  }

  #due() {
    const newest = this.#list.lastId;
    return (
      Boolean(newest) &&
      newest > this.#marker &&
      document.visibilityState === 'visible' &&
      this.#list.newestVisible()
    );
  }

  #send(messageId) {
    this.#marker = messageId;
    this.#rooms.markRead(this.#roomId, messageId);
    if (this.#socket.send({ type: 'read', room: this.#roomId, message: messageId })) return;
    // Not connected: REST keeps the badges of the user's other tabs honest too.
    api.markRead(this.#roomId, messageId).catch(() => {
      // Offline: the next message seen, or the next visit, sends it again.
      this.#marker = '';
    });
  }
}
