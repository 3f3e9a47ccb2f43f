// The rooms this user can see, shared by the sidebar and the landing page:
// public rooms (joined or not) and the private and direct rooms they belong to.
// Kept current by the WebSocket's membership frames (`added`, `removed`,
// `room_updated`, `room_deleted`), and refreshed on demand, on a slow timer,
// after a reconnect and when the tab becomes visible, so a missed frame or a
// room created by someone else shows up without a reload.
//
// Each of the caller's rooms carries its read state (`unread_count`,
// `mention_count`, `last_read`, `last_message`, `notifications`). The list
// brings it; then the server's `room_activity` frames, sent for every new
// message of every room of the caller's (open here or not), replace the
// counts and the newest message, and move the room up the activity order.
// The frames are coalesced, so their counts are the server's current state,
// never increments. The open room's chat view reports its live messages with
// `noteMessage` and what was read with `markRead`, and says with `setReader`
// which messages it is reading as they arrive, so a frame about one of those
// does not light a badge its read marker clears a moment later. Another tab's
// `read` frame clears a room here.

import { api } from './api.js';
import { parseDate } from './format.js';

const REFRESH_EVERY_MS = 30_000;

/** Most recently active first (rooms without activity count from their creation). */
export function byRecentActivity(a, b) {
  const at = (room) => parseDate(room.last_active_at ?? room.created_at).getTime();
  return at(b) - at(a) || a.name.localeCompare(b.name);
}

/** The other people in a direct room (the room has no name of its own). */
export function dmPartners(room, me) {
  const others = (room.members ?? []).filter((name) => name !== me);
  return others.length ? others : [me];
}

/** How a room is called in the UI: its name, or for a direct room the other members' usernames. */
export function roomTitle(room, me) {
  return room.kind === 'direct' ? dmPartners(room, me).join(', ') : room.name;
}

/** The label of a room's message box, e.g. "Message #general" or "Message bob". */
export function composerLabel(room, me) {
  return room.kind === 'direct' ? `Message ${roomTitle(room, me)}` : `Message #${room.name}`;
}

/** The later of two times (RFC 3339; either may be missing). */
function laterTime(a, b) {
  if (!a || !b) return a ?? b;
  return parseDate(b) > parseDate(a) ? b : a;
}

/** Whether a message mentions `username`, by name or with `@room`. */
export function mentionsUser(message, username) {
  const mentions = message.mentions ?? [];
  return mentions.includes('room') || mentions.includes(username.toLowerCase());
}

export class RoomsStore extends EventTarget {
  #rooms = [];
  #loaded = false;
  #error = null;
  #timer = 0;
  #inflight = null;
  #socket = null;
  /** The open room's chat view: `{ roomId, reads(messageId) }` (see `setReader`), or null. */
  #reader = null;
  /**
   * room id -> the newest `room_activity` of a room the list does not have yet
   * (a frame that overtook the first list, or an `added` missed while
   * offline), applied when the room appears.
   */
  #unlisted = new Map();
  #onVisible = () => {
    if (document.visibilityState === 'visible') this.refresh();
  };
  #onFrame = ({ detail: frame }) => this.#applyFrame(frame);
  #onReconnect = () => this.refresh();

  /** Every visible room. */
  get rooms() {
    return this.#rooms;
  }

  /** The caller's public and private rooms. */
  get myRooms() {
    return this.#rooms.filter((r) => r.is_member && r.kind !== 'direct');
  }

  /** The caller's direct-message rooms. */
  get directs() {
    return this.#rooms.filter((r) => r.is_member && r.kind === 'direct');
  }

  /** Messages not read yet, over all the caller's rooms. */
  get unreadTotal() {
    return this.#rooms.reduce((sum, r) => sum + (r.is_member ? (r.unread_count ?? 0) : 0), 0);
  }

  /** Public rooms the caller has not joined. */
  get browsable() {
    return this.#rooms.filter((r) => !r.is_member && r.kind === 'public');
  }

  get(roomId) {
    return this.#rooms.find((r) => r.id === roomId);
  }

  get loaded() {
    return this.#loaded;
  }

  /** The last refresh error (an ApiError), or null. */
  get error() {
    return this.#error;
  }

  /** @param socket the ChatSocket whose membership frames keep the list current */
  start(socket) {
    this.#socket = socket;
    socket.addEventListener('frame', this.#onFrame);
    socket.addEventListener('open', this.#onReconnect);
    this.refresh();
    this.#timer = setInterval(() => this.refresh(), REFRESH_EVERY_MS);
    document.addEventListener('visibilitychange', this.#onVisible);
  }

  stop() {
    this.#socket?.removeEventListener('frame', this.#onFrame);
    this.#socket?.removeEventListener('open', this.#onReconnect);
    this.#socket = null;
    this.#reader = null;
    this.#unlisted.clear();
    clearInterval(this.#timer);
    document.removeEventListener('visibilitychange', this.#onVisible);
  }

  /** Fetches the list again; concurrent calls share one request. */
  refresh() {
    this.#inflight ??= api
      .listRooms()
      .then((rooms) => {
        this.#error = null;
        this.#set(rooms.map((room) => this.#keepNewer(room)));
      })
      .catch((error) => {
        this.#error = error;
        this.#emit();
      })
      .finally(() => {
        this.#inflight = null;
      });
    return this.#inflight;
  }

  /**
   * The live room with this name (case-insensitive), if the list has it: one of
   * the caller's own first (private names need not be unique), then a public one.
   */
  findByName(name) {
    const wanted = name.trim().toLowerCase();
    const named = this.#rooms.filter((room) => room.kind !== 'direct' && room.name.trim().toLowerCase() === wanted);
    return named.find((room) => room.is_member) ?? named[0];
  }

  /** Adds a room or merges newer fields into the known one. */
  upsert(room) {
    const known = this.get(room.id);
    this.#set([...this.#rooms.filter((r) => r.id !== room.id), known ? { ...known, ...room } : room]);
  }

  remove(roomId) {
    if (this.#rooms.some((r) => r.id === roomId)) this.#set(this.#rooms.filter((r) => r.id !== roomId));
  }

  /**
   * The caller is no longer a member: a public room stays listed (to browse and
   * rejoin), a private or direct one disappears.
   */
  forget(roomId) {
    const room = this.get(roomId);
    if (!room) return;
    if (room.kind === 'public') {
      const { role: _role, ...rest } = room;
      this.#set([...this.#rooms.filter((r) => r.id !== roomId), { ...rest, is_member: false }]);
    } else this.remove(roomId);
  }

  #applyFrame(frame) {
    switch (frame.type) {
      case 'added':
        if (frame.room?.id) this.upsert({ ...frame.room, is_member: true });
        break;
      case 'removed':
        this.forget(frame.room);
        break;
      case 'room_updated': {
        // Shared by all subscribers: it carries no caller-specific role, so merge
        // only what it is about.
        const known = frame.room && this.get(frame.room.id);
        if (known) {
          const update = { id: known.id };
          for (const key of ['name', 'topic', 'member_count', 'last_active_at', 'expires_at']) {
            if (frame.room[key] !== undefined) update[key] = frame.room[key];
          }
          this.upsert(update);
        }
        break;
      }
      case 'room_deleted':
        this.remove(frame.room);
        break;
      case 'room_activity':
        this.#applyActivity(frame);
        break;
      case 'read': {
        // Read in another tab or device.
        if (!frame.room || !frame.message) break;
        this.markRead(frame.room, frame.message);
        // Something newer than that marker was announced: how much of it is
        // unread only the server knows.
        const newest = this.get(frame.room)?.last_message?.id;
        if (newest && newest > frame.message) this.refresh();
        break;
      }
      default:
        break;
    }
  }

  /**
   * The caller read `roomId` up to `messageId`: its badges clear. Markers only
   * move forward, so an older id changes nothing.
   */
  markRead(roomId, messageId) {
    const room = this.get(roomId);
    if (!room || (room.last_read && room.last_read >= messageId)) return;
    this.upsert({ id: roomId, last_read: messageId, unread_count: 0, mention_count: 0 });
  }

  /**
   * The chat view open on `roomId` reads it as messages arrive: `reads(id)`
   * says whether a message is read there already or will be as soon as it is
   * shown (the reader is at the newest message of a visible tab). Activity
   * about such a message leaves the room's badges at 0 instead of making them
   * flicker until the read marker catches up. Returns the function that
   * withdraws the reader (when the view closes).
   */
  setReader(roomId, reads) {
    const reader = { roomId, reads };
    this.#reader = reader;
    return () => {
      if (this.#reader === reader) this.#reader = null;
    };
  }

  /** Whether `messageId` of `room` is read here: the marker is at or past it, or the open chat is reading it. */
  #readHere(room, messageId) {
    if (room.last_read && room.last_read >= messageId) return true;
    return this.#reader?.roomId === room.id && this.#reader.reads(messageId);
  }

  /**
   * A `room_activity` frame: the room's newest message and the server's
   * counts for it, which replace the store's (they are the coalesced current
   * state, not one message's worth). A room not listed yet keeps its frame
   * until it is, and the list is fetched once for it.
   */
  #applyActivity(frame) {
    if (typeof frame.room !== 'string' || !frame.last_message?.id) return;
    const room = this.get(frame.room);
    if (room) {
      const updated = this.#withActivity(room, frame);
      if (updated) this.upsert(updated);
      return;
    }
    const waiting = this.#unlisted.has(frame.room);
    this.#unlisted.set(frame.room, frame);
    if (!waiting) this.refresh();
  }

  /**
   * `room` with the activity of `frame`, or null when the frame is older than
   * what the room has (a live message or a later list overtook it: a room's
   * frames arrive in order, so the newer state is already there).
   */
  #withActivity(room, frame) {
    const message = frame.last_message;
    if (room.last_message && message.id < room.last_message.id) return null;
    const read = this.#readHere(room, message.id);
    return {
      ...room,
      last_message: message,
      unread_count: read ? 0 : (frame.unread_count ?? 0),
      mention_count: read ? 0 : (frame.mention_count ?? 0),
      last_active_at: laterTime(room.last_active_at, message.sent_at),
    };
  }

  /**
   * A live message of the open room, from someone else: it counts as unread
   * until the chat view marks it read. A message the list or a `room_activity`
   * frame already counted (its `last_message` is as new) is not counted twice,
   * and one the chat view is reading right now not at all.
   */
  noteMessage(roomId, message, me) {
    const room = this.get(roomId);
    if (!room?.is_member || message.author === me) return;
    if ((room.last_read && message.id <= room.last_read) || (room.last_message && message.id <= room.last_message.id)) {
      return;
    }
    if (this.#readHere(room, message.id)) {
      this.upsert({ id: roomId, last_message: message });
      return;
    }
    const mentioned = mentionsUser(message, me);
    this.upsert({
      id: roomId,
      last_message: message,
      unread_count: (room.unread_count ?? 0) + 1,
      mention_count: (room.mention_count ?? 0) + (mentioned ? 1 : 0),
    });
  }

  /**
   * A listed room against what the store knows of it, for a list that was
   * read before the newest frames or marker reached the server or here:
   * - activity announced after it (a newer `last_message`) keeps its counts;
   * - a read marker this tab just sent keeps the room read, unless something
   *   newer arrived meanwhile.
   */
  #keepNewer(listed) {
    const known = this.get(listed.id);
    if (!known) return listed;
    let room = listed;
    const knownNewest = known.last_message?.id;
    if (knownNewest && (!listed.last_message || knownNewest > listed.last_message.id)) {
      const { last_message, unread_count, mention_count } = known;
      room = { ...room, last_message, unread_count, mention_count };
      room.last_active_at = laterTime(listed.last_active_at, known.last_active_at);
    }
    const read = known.last_read;
    if (!read || (room.last_read && room.last_read >= read)) return room;
    if (room.last_message && room.last_message.id > read) return room;
    return { ...room, last_read: read, unread_count: 0, mention_count: 0 };
  }

  /** Marks a room active now, so it moves to the top without waiting for a refresh. */
  touch(roomId, at) {
    const room = this.#rooms.find((r) => r.id === roomId);
    if (!room) return;
    if (parseDate(room.last_active_at ?? room.created_at) >= parseDate(at)) return;
    this.upsert({ ...room, last_active_at: at });
  }

  #set(rooms) {
    const now = Date.now();
    const live = rooms.filter((r) => parseDate(r.expires_at).getTime() > now);
    this.#rooms = (this.#unlisted.size ? live.map((r) => this.#withUnlisted(r)) : live).sort(byRecentActivity);
    this.#loaded = true;
    this.#emit();
  }

  /** A room as it appears, with the activity announced before it did. */
  #withUnlisted(room) {
    const frame = this.#unlisted.get(room.id);
    if (!frame) return room;
    this.#unlisted.delete(room.id);
    return this.#withActivity(room, frame) ?? room;
  }

  #emit() {
    this.dispatchEvent(new CustomEvent('change'));
  }
}
