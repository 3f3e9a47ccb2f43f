// The list of live rooms, shared by the sidebar and the landing page.
// Refreshed on demand, on a slow timer, and when the tab becomes visible, so
// rooms created or deleted by others show up without a reload.

import { api } from './api.js';
import { parseDate } from './format.js';

const REFRESH_EVERY_MS = 30_000;

/** Most recently active first (rooms without activity count from their creation). */
export function byRecentActivity(a, b) {
  const at = (room) => parseDate(room.last_active_at ?? room.created_at).getTime();
  return at(b) - at(a) || a.name.localeCompare(b.name);
}

export class RoomsStore extends EventTarget {
  #rooms = [];
  #loaded = false;
  #error = null;
  #timer = 0;
  #inflight = null;
  #onVisible = () => {
    if (document.visibilityState === 'visible') this.refresh();
  };

  get rooms() {
    return this.#rooms;
  }

  get loaded() {
    return this.#loaded;
  }

  /** The last refresh error (an ApiError), or null. */
  get error() {
    return this.#error;
  }

  start() {
    this.refresh();
    this.#timer = setInterval(() => this.refresh(), REFRESH_EVERY_MS);
    document.addEventListener('visibilitychange', this.#onVisible);
  }

  stop() {
    clearInterval(this.#timer);
    document.removeEventListener('visibilitychange', this.#onVisible);
  }

  /** Fetches the list again; concurrent calls share one request. */
  refresh() {
    this.#inflight ??= api
      .listRooms()
      .then((rooms) => {
        this.#error = null;
        this.#set(rooms);
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

  /** The live room with this name (case-insensitive), if the list has it. */
  findByName(name) {
    const wanted = name.trim().toLowerCase();
    return this.#rooms.find((room) => room.name.trim().toLowerCase() === wanted);
  }

  upsert(room) {
    this.#set([...this.#rooms.filter((r) => r.id !== room.id), room]);
  }

  remove(roomId) {
    if (this.#rooms.some((r) => r.id === roomId)) this.#set(this.#rooms.filter((r) => r.id !== roomId));
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
    this.#rooms = rooms.filter((r) => parseDate(r.expires_at).getTime() > now).sort(byRecentActivity);
    this.#loaded = true;
    this.#emit();
  }

  #emit() {
    this.dispatchEvent(new CustomEvent('change'));
  }
}
