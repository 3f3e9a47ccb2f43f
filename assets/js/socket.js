// The WebSocket client: one connection per signed-in tab, shared by all views.
//
// It owns reconnection (exponential backoff with jitter, immediate retry when
// the browser comes back online or the tab becomes visible again), keepalive
// pings, and the set of joined rooms: after every reconnect it re-sends
// `join` for each room with `after` = the view's replay cursor (the highest
// change number it has seen), so the server replays exactly what was missed:
// new messages and the current state of changed ones. Views upsert by id.

const PING_EVERY_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** A connection that lasts this long (or delivers a frame) resets the backoff. */
const STABLE_AFTER_MS = 5_000;
/** Close code the server uses for a subscriber that could not keep up. */
export const CLOSE_LAGGED = 4008;

/**
 * States: `connecting`, `open`, `waiting` (a retry is scheduled; `retryAt` says
 * when), `offline` (the browser reports no network), `stopped`.
 *
 * Events (all CustomEvent):
 * - `state`  detail: { state, retryAt }
 * - `frame`  detail: the parsed server frame (`joined`, `message`, `typing`, ...)
 * - `open`   the connection is (re-)established and joins have been sent
 */
export class ChatSocket extends EventTarget {
  #url;
  #checkSession;
  #ws = null;
  #state = 'stopped';
  #retryAt = 0;
  #attempt = 0;
  #retryTimer = 0;
  #pingTimer = 0;
  #pongTimer = 0;
  #stableTimer = 0;
  /** room id -> function returning the room's replay cursor (or undefined: the newest page). */
  #rooms = new Map();
  #onOnline = () => this.reconnectNow();
  #onOffline = () => this.#drop(1006);
  #onVisible = () => {
    if (document.visibilityState === 'visible' && this.#state === 'waiting') this.reconnectNow();
  };

  /**
   * @param url          the ws:// or wss:// URL of /api/ws
   * @param checkSession async () => boolean; asked after a failed connection,
   *                     so an expired session stops the retries instead of looping
   */
  constructor(url, checkSession) {
    super();
    this.#url = url;
    this.#checkSession = checkSession;
  }

  get state() {
    return this.#state;
  }

  get retryAt() {
    return this.#retryAt;
  }

  start() {
    if (this.#state !== 'stopped') return;
    window.addEventListener('online', this.#onOnline);
    window.addEventListener('offline', this.#onOffline);
    document.addEventListener('visibilitychange', this.#onVisible);
    this.#connect();
  }

  stop() {
    window.removeEventListener('online', this.#onOnline);
    window.removeEventListener('offline', this.#onOffline);
    document.removeEventListener('visibilitychange', this.#onVisible);
    clearTimeout(this.#retryTimer);
    this.#stopKeepalive();
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, 'bye');
    this.#rooms.clear();
    this.#setState('stopped');
  }

  /** Skips the backoff wait and connects now (e.g. the user clicked "Retry"). */
  reconnectNow() {
    if (this.#state === 'stopped' || this.#state === 'connecting' || this.#state === 'open') return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  /** Joins a room now and after every reconnect; `cursor()` gives the replay cursor. */
  join(roomId, cursor = () => undefined) {
    this.#rooms.set(roomId, cursor);
    if (this.#state === 'open') this.#sendJoin(roomId);
  }

  leave(roomId) {
    if (!this.#rooms.delete(roomId)) return;
    if (this.#state === 'open') this.send({ type: 'leave', room: roomId });
  }

  /** Sends a frame; returns false when not connected (the caller keeps it for later). */
  send(frame) {
    if (this.#state !== 'open' || this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  #sendJoin(roomId) {
    const after = this.#rooms.get(roomId)?.();
    this.send(after ? { type: 'join', room: roomId, after } : { type: 'join', room: roomId });
  }

  #setState(state, retryAt = 0) {
    this.#state = state;
    this.#retryAt = retryAt;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, retryAt } }));
  }

  #connect() {
    if (!navigator.onLine) {
      this.#setState('offline');
      return;
    }
    this.#setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.#url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.addEventListener('open', () => {
      if (this.#ws !== ws) return;
      // Backoff resets only once the server proves alive (a frame, or a few
      // quiet seconds): a server that accepts and drops at once must not
      // cause a tight reconnect loop.
      this.#startKeepalive();
      this.#stableTimer = setTimeout(() => {
        this.#attempt = 0;
      }, STABLE_AFTER_MS);
      this.#setState('open');
      for (const roomId of this.#rooms.keys()) this.#sendJoin(roomId);
      this.dispatchEvent(new CustomEvent('open'));
    });
    ws.addEventListener('message', (event) => {
      if (this.#ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.#attempt = 0;
      if (frame?.type === 'pong') {
        clearTimeout(this.#pongTimer);
        return;
      }
      this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    });
    ws.addEventListener('close', (event) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#stopKeepalive();
      this.#afterClose(event.code);
    });
  }

  async #afterClose(code) {
    if (this.#state === 'stopped') return;
    if (!navigator.onLine) {
      this.#setState('offline');
      return;
    }
    // A lagged connection lost nothing durable: rejoin at once with `after`.
    if (code === CLOSE_LAGGED) {
      this.#attempt = 0;
      this.#scheduleRetry(100);
      return;
    }
    // The upgrade is refused with 401 when the session is gone; a browser only
    // reports "closed", so ask the REST API before hammering the server.
    if (this.#attempt >= 1) {
      let stillSignedIn = true;
      try {
        stillSignedIn = await this.#checkSession();
      } catch {
        // Server unreachable: keep retrying with backoff.
      }
      if (!stillSignedIn || this.#state === 'stopped') return;
    }
    this.#scheduleRetry();
  }

  #scheduleRetry(delay) {
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.#attempt);
    const wait = delay ?? Math.round(backoff / 2 + Math.random() * (backoff / 2));
    this.#attempt += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), wait);
    this.#setState('waiting', Date.now() + wait);
  }

  /**
   * Abandons the current connection at once, without waiting for a closing
   * handshake that a dead network would never complete.
   */
  #drop(code) {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    this.#stopKeepalive();
    try {
      ws.close(4000, 'abandoned');
    } catch {
      // Already closing.
    }
    this.#afterClose(code);
  }

  #startKeepalive() {
    this.#stopKeepalive();
    this.#pingTimer = setInterval(() => {
      if (!this.send({ type: 'ping' })) return;
      clearTimeout(this.#pongTimer);
      // No pong in time: the connection is dead even if the browser has not noticed.
      this.#pongTimer = setTimeout(() => this.#drop(1006), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  #stopKeepalive() {
    clearTimeout(this.#stableTimer);
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
  }
}

/** The /api/ws URL on this page's own origin. */
export function socketUrl() {
  return `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}/api/ws`;
}
