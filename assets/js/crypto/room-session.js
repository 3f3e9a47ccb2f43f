// One open encrypted room's view of the keyring: which key version is
// current and whether this tab holds it, and the message transformations the
// chat view needs:
// - `open(message)`: a copy to show, its text decrypted into `body` (no `html`:
//   crypto/render.js draws it), with `e2e` saying 'ok', 'waiting' (a key of the
//   current version is on its way), 'not_given' (a version this user never
//   got) or 'damaged'; its reaction tokens mapped back to emoji (`display`);
// - `seal(text, members)`: the `{ ciphertext, iv, key_version, mentions }` of
//   a send or an edit; when nobody holds the current version yet, this tab
//   makes it first;
// - `token(message, emoji)`: the reaction token to send.
//
// `refresh()` syncs the keyring (after a `room_key` frame, a member change or
// arrival, a 400 `unknown_key_version`). It also polls slowly, faster while
// members wait for a key or this tab does: no frame tells members that someone
// set up or reset their key and needs the room key, so a member who arrives
// while nobody is looking still gets it. Event: `change`.

import { mentionsIn } from './mentions.js';
import { WAITING_TEXT } from './render.js';
import { decryptMessage } from './primitives.js';

const POLL_WHILE_WAITING_MS = 20_000;
const POLL_MS = 60_000;
const TOKEN = /^v(\d+):/;

/** An error whose `name` is 'NoRoomKey': this tab cannot encrypt for the room yet. */
function noRoomKey() {
  const error = new Error(`${WAITING_TEXT}.`);
  error.name = 'NoRoomKey';
  return error;
}

export class RoomSession extends EventTarget {
  #keyring;
  #roomId;
  /** The keyring's last answer for the room: `{ version, hasCurrent, missing, withoutKey }`. */
  #state = null;
  #poll = 0;
  #closed = false;

  constructor(keyring, roomId) {
    super();
    this.#keyring = keyring;
    this.#roomId = roomId;
  }

  get keyring() {
    return this.#keyring;
  }

  /** The room's current key version (0 until known). */
  get version() {
    return this.#state?.version ?? 0;
  }

  /** Whether this tab holds the current version's key. */
  get hasCurrentKey() {
    return Boolean(this.#state?.hasCurrent);
  }

  /** Whether nobody holds the current version yet: this tab makes it with its next send. */
  get canEstablish() {
    return Boolean(this.#state?.canEstablish);
  }

  /** Whether this tab can send now (or once it has made the current version). */
  get canSend() {
    return this.hasCurrentKey || this.canEstablish;
  }

  /** Members with an identity key but not the current room key (yet). */
  get missing() {
    return this.#state?.missing ?? [];
  }

  /** Members who have not set up encryption yet. */
  get withoutKey() {
    return this.#state?.withoutKey ?? [];
  }

  /**
   * Syncs the room's keys (making the current version when `establish` and
   * nobody holds it); a failure keeps what was known (the next trigger tries again).
   */
  async refresh({ establish = false } = {}) {
    if (this.#closed) return;
    try {
      const state = await this.#keyring.syncRoom(this.#roomId, { establish });
      if (state) this.#state = state;
    } catch {
      // Offline or refused: keep the last state.
    }
    if (this.#closed) return;
    this.#schedulePoll();
    this.dispatchEvent(new Event('change'));
  }

  /** Stops polling (the chat view closed). */
  close() {
    this.#closed = true;
    clearTimeout(this.#poll);
  }

  #schedulePoll() {
    clearTimeout(this.#poll);
    const waiting = !this.canSend || this.missing.length > 0 || this.withoutKey.length > 0;
    this.#poll = setTimeout(() => this.refresh(), waiting ? POLL_WHILE_WAITING_MS : POLL_MS);
  }

  /** `open` for a list of messages. */
  openAll(messages) {
    return Promise.all(messages.map((message) => this.open(message)));
  }

  /** The message as it is shown (see the top of this file); other messages pass unchanged. */
  async open(message) {
    if (typeof message.ciphertext !== 'string' || message.deleted) return message;
    const { html: _html, ...rest } = message;
    const shown = { ...rest, body: '' };
    const version = message.key_version;
    const key = this.#keyring.roomKey(this.#roomId, version);
    if (key) {
      try {
        shown.body = await decryptMessage(key, this.#roomId, version, message);
        shown.e2e = 'ok';
      } catch {
        shown.e2e = 'damaged';
      }
    } else {
      // A current version that nobody holds will never be shared: only one someone holds is awaited.
      shown.e2e = version >= this.version && !this.canEstablish ? 'waiting' : 'not_given';
      // A version newer than the one known here: the room moved on; catch up.
      if (this.#state && version > this.version) this.refresh();
    }
    shown.reactions = await this.#reactions(message.reactions ?? []);
    return shown;
  }

  /** Reactions with the emoji each token stands for (`display`; '?' when this tab cannot tell). */
  #reactions(reactions) {
    return Promise.all(
      reactions.map(async (reaction) => {
        const match = TOKEN.exec(reaction.emoji);
        if (!match) return reaction;
        const tokens = await this.#keyring.reactionTokens(this.#roomId, Number(match[1])).catch(() => null);
        return { ...reaction, display: tokens?.get(reaction.emoji) ?? '?' };
      }),
    );
  }

  /** Whether a shown message still waits for something (its text, or a reaction's meaning). */
  static unresolved(message) {
    if (!message.e2e) return false;
    return message.e2e !== 'ok' || (message.reactions ?? []).some((r) => r.display === '?');
  }

  /**
   * The wire fields of a send or an edit of `text` under the current key:
   * `{ ciphertext, iv, key_version, mentions }`. Throws a 'NoRoomKey' error
   * while this tab does not hold it.
   */
  async seal(text, memberNames) {
    await this.#currentKey();
    const version = this.version;
    if (!version || !this.#keyring.roomKey(this.#roomId, version)) throw noRoomKey();
    const sealed = await this.#keyring.encrypt(this.#roomId, version, text);
    return { ...sealed, mentions: mentionsIn(text, memberNames) };
  }

  /**
   * The token to send for `emoji` on `message`: a chip's own token as it is;
   * otherwise made with the key of the message's version when held (so equal
   * reactions to a message add up), else the current one.
   */
  async token(message, emoji) {
    if (TOKEN.test(emoji)) return emoji;
    const own = message.key_version;
    if (!own || !this.#keyring.roomKey(this.#roomId, own)) await this.#currentKey();
    const version = own && this.#keyring.roomKey(this.#roomId, own) ? own : this.version;
    const token = await this.#keyring.reactionToken(this.#roomId, version, emoji);
    if (!token) throw noRoomKey();
    return token;
  }

  /** Makes sure this tab holds the current version when it can: syncs first if unknown, makes it if nobody has. */
  async #currentKey() {
    if (!this.#state) await this.refresh();
    if (!this.hasCurrentKey && this.canEstablish) await this.refresh({ establish: true });
  }
}
