// What an end-to-end encrypted room adds to the chat view (views/chat.js):
// - openEncryptedRoom: the user's key unlocked (asked for when needed), the
//   room's keys synced, the first page decrypted;
// - SealedSends: a pending message is sealed (asynchronously) with the room's
//   current key version, then sent; a send refused for a version the room has
//   left is sealed again after the keys were fetched anew;
// - KeyFollower: messages shown before their key arrived are shown again when
//   it does, and the composer waits while this tab has no key to send with.

import { keyringFor } from './keyring.js';
import { WAITING_TEXT } from './render.js';
import { RoomSession } from './room-session.js';

/** How often one send is sealed again after a 400 `unknown_key_version`. */
const VERSION_RETRIES = 2;

/**
 * Opens an encrypted room in this browser. Resolves to `{ e2e, messages }`
 * (the RoomSession, and `messages` opened with it), or null when the user did
 * not unlock their key.
 */
export async function openEncryptedRoom(username, roomId, messages) {
  const keyring = keyringFor(username);
  if (!(await keyring.unlock())) return null;
  const e2e = new RoomSession(keyring, roomId);
  await e2e.refresh();
  return { e2e, messages: await e2e.openAll(messages) };
}

export class SealedSends {
  #e2e;
  #socket;
  #roomId;
  #memberNames;
  #outbox = null;
  /** nonce -> the sealed payload of a pending send, or `{ sealing: true }` while it is made. */
  #sealed = new Map();
  /** nonce -> how often the send was refused for its key version. */
  #retries = new Map();

  /**
   * @param opts.e2e          the RoomSession
   * @param opts.socket       the ChatSocket
   * @param opts.memberNames  () => the room's members (for the mentions)
   */
  constructor({ e2e, socket, roomId, memberNames }) {
    this.#e2e = e2e;
    this.#socket = socket;
    this.#roomId = roomId;
    this.#memberNames = memberNames;
  }

  /** The Outbox whose sends these are (it is made with `transmit`, hence after). */
  attach(outbox) {
    this.#outbox = outbox;
  }

  /** The Outbox's transmit: true when sent or on its way (being sealed), false when not connected. */
  transmit(nonce, body, replyTo) {
    const payload = this.#sealed.get(nonce);
    if (payload?.key_version && payload.key_version === this.#e2e.version) {
      const frame = { type: 'send', room: this.#roomId, ...payload, nonce, ...(replyTo && { reply_to: replyTo }) };
      return this.#socket.send(frame);
    }
    if (payload?.sealing) return true;
    this.#sealed.set(nonce, { sealing: true });
    this.#e2e.seal(body, this.#memberNames()).then(
      (ready) => {
        if (!this.#outbox.has(nonce)) return;
        this.#sealed.set(nonce, ready);
        this.#outbox.resend(nonce);
      },
      (error) => {
        this.#sealed.delete(nonce);
        this.#outbox.fail(nonce, 'no_room_key', error.message);
      },
    );
    return true;
  }

  /** The server acknowledged the send. */
  acked(nonce) {
    this.#sealed.delete(nonce);
    this.#retries.delete(nonce);
  }

  /**
   * An error frame: true when it refused one of these sends for its key
   * version and the send is on its way again (the keys are fetched first).
   */
  refused(frame) {
    if (frame.code !== 'unknown_key_version') return false;
    const nonce = frame.nonce;
    const retry = nonce && this.#outbox.has(nonce) && (this.#retries.get(nonce) ?? 0) < VERSION_RETRIES;
    if (retry) {
      this.#retries.set(nonce, (this.#retries.get(nonce) ?? 0) + 1);
      this.#sealed.delete(nonce);
    }
    this.#e2e.refresh().then(() => {
      if (retry) this.#outbox.resend(nonce);
    });
    return Boolean(retry);
  }
}

export class KeyFollower {
  #e2e;
  #list;
  #composer;
  #bar;
  #isGone;
  #enqueue;
  /** Ids of shown messages still waiting for a key (their text, or a reaction's meaning). */
  #unresolved = new Set();
  #canSend = null;

  /**
   * @param opts.list     the MessageList
   * @param opts.composer the composer ({ setDisabled })
   * @param opts.bar      the encryption bar (room-bar.js)
   * @param opts.isGone   () => true once the room is gone or left
   * @param opts.enqueue  (async fn) => void: runs fn in order with the view's frames
   */
  constructor({ e2e, list, composer, bar, isGone, enqueue }) {
    this.#e2e = e2e;
    this.#list = list;
    this.#composer = composer;
    this.#bar = bar;
    this.#isGone = isGone;
    this.#enqueue = enqueue;
  }

  /** Notes a message as shown: one that waits for a key is shown again when it comes. */
  track(message) {
    if (RoomSession.unresolved(message)) this.#unresolved.add(message.id);
    else this.#unresolved.delete(message.id);
  }

  /** The room's keys changed (the session's `change`). */
  onKeys = () => {
    this.#enqueue(async () => {
      if (this.#isGone()) return;
      this.#bar.update();
      // Known to be unable to send: a member holds the current version, and has not shared it yet.
      const canSend = this.#e2e.canSend || !this.#e2e.version;
      if (canSend !== this.#canSend) {
        this.#canSend = canSend;
        this.#composer.setDisabled(canSend ? null : `${WAITING_TEXT}…`);
      }
      for (const id of [...this.#unresolved]) {
        const row = this.#list.row(id);
        if (!row) {
          this.#unresolved.delete(id);
          continue;
        }
        const message = await this.#e2e.open(row.message);
        if (this.#isGone()) return;
        this.track(message);
        this.#list.upsert(message);
      }
    });
  };
}
