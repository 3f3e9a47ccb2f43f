// The signed-in user's end-to-end encryption session (docs/encrypted-rooms.md):
// their identity key, and the room keys it opens.
//
// Identity: this browser keeps the unlocked, non-extractable private key in
// IndexedDB (keystore.js) once it has been unlocked. It is used only while it
// matches the public key on the server (GET /api/keys/me): a key reset on
// another device makes the copy here stale, and it is forgotten. Without one,
// `unlock()` asks (identity-dialogs.js): a passphrase or recovery key for a new
// key pair, or the one that opens the key on the server, or a reset.
//
// Room keys: `syncRoom(id)` reads GET /api/rooms/{id}/keys/me, unwraps every
// version it has not opened yet (or whose wrapped copy changed) and keeps them
// in memory for this tab; the server's copy always wins, so two members who
// made the same version at once end up with one key. When it holds the current
// version and members are `missing` it, it wraps it for them.
//
// A version nobody holds yet (a new room, or after a member was removed) is
// made only when this tab is about to use it (`syncRoom(id, { establish:
// true })`, from a send): a new random key wrapped for every member with a
// public key, itself included. Made eagerly, every member's browser would race
// to make it at the same moment after a removal; the server keeps the first
// and refuses the others (409 `key_exists`: a key is never replaced,
// docs/encrypted-rooms.md), so most of that work would be wasted. A version
// someone holds is waited for instead: they share it.
//
// Before wrapping anything it checks that its identity is still the one on the
// server, so a stale device never hands out keys its members cannot open.

import { api } from '../api.js';
import { COMMON_EMOJI } from '../chat/emoji-names.js';
import { newKeyDialog, secretsToTry, unlockDialog } from './identity-dialogs.js';
import * as keystore from './keystore.js';
import {
  encryptMessage,
  generateIdentity,
  generateRoomKey,
  reactionToken,
  unwrapIdentity,
  unwrapRoomKey,
  wrapIdentity,
  wrapRoomKey,
} from './primitives.js';

/** username -> its Keyring: one per signed-in user and tab. */
const keyrings = new Map();

/** The keyring of `username`, made on first use. */
export function keyringFor(username) {
  let keyring = keyrings.get(username);
  if (!keyring) {
    keyring = new Keyring(username);
    keyrings.set(username, keyring);
  }
  return keyring;
}

const slot = (roomId, version) => `${roomId}\n${version}`;

/**
 * Events: `change` (the identity was unlocked, created or reset), `locked`
 * (the identity here turned out stale: reset on another device).
 */
export class Keyring extends EventTarget {
  #username;
  /** `{ privateKey, publicKeyB64 }` once unlocked, else null. */
  #identity = null;
  #unlocking = null;
  /** slot(room, version) -> `{ key, wrapped }`: the room key and the wrapped copy it came from. */
  #roomKeys = new Map();
  /** room id -> { promise, again, establish }: one sync per room at a time; a call during one asks for another. */
  #syncs = new Map();
  /** slot(room, version) -> Promise<Map token -> emoji>. */
  #tokenMaps = new Map();

  constructor(username) {
    super();
    this.#username = username;
  }

  get username() {
    return this.#username;
  }

  /** This user's public key (base64), once unlocked; null before. */
  get publicKey() {
    return this.#identity?.publicKeyB64 ?? null;
  }

  /**
   * The unlocked identity: from this browser when it still matches the
   * server's, else asked for (unless `interactive` is false). Resolves to null
   * when the user cancelled. Concurrent calls share one dialog.
   */
  unlock({ interactive = true } = {}) {
    if (this.#identity) return Promise.resolve(this.#identity);
    this.#unlocking ??= this.#unlock(interactive).finally(() => {
      this.#unlocking = null;
    });
    return this.#unlocking;
  }

  async #unlock(interactive) {
    const server = await api.myKey();
    let local = null;
    try {
      local = await keystore.loadIdentity(this.#username);
    } catch {
      // No IndexedDB here (a private window): ask, and keep the key in this tab.
    }
    if (local && server && local.publicKeyB64 === server.public_key) {
      this.#identity = local;
      return local;
    }
    // Reset elsewhere, or the server lost it: this copy opens nothing any more.
    if (local) await keystore.clearIdentity(this.#username).catch(() => {});
    if (!interactive) return null;
    if (!server) {
      const created = await newKeyDialog('setup', (secret) => this.#create(secret));
      return created ? this.#identity : null;
    }
    const outcome = await unlockDialog(
      (typed) => this.#open(server, typed),
      (secret) => this.#create(secret),
    );
    return outcome ? this.#identity : null;
  }

  /** Opens the server's wrapped key with what was typed; throws `WrongPassphrase`. */
  async #open(server, typed) {
    let failure;
    for (const secret of secretsToTry(typed)) {
      try {
        const privateKey = await unwrapIdentity(server.wrapped_private_key, server.kdf, secret);
        await this.#keep(privateKey, server.public_key);
        return;
      } catch (error) {
        if (error.name !== 'WrongPassphrase') throw error;
        failure = error;
      }
    }
    throw failure;
  }

  /**
   * A new key pair under `secret`, uploaded. When it replaces another (a
   * reset) the server drops every room key wrapped for the old one, and so
   * does this tab.
   */
  async #create(secret) {
    const { privateKey, publicKeyB64 } = await generateIdentity();
    const wrapped = await wrapIdentity(privateKey, secret);
    await api.putMyKey({ public_key: publicKeyB64, ...wrapped });
    this.#roomKeys.clear();
    this.#tokenMaps.clear();
    await this.#keep(privateKey, publicKeyB64);
  }

  async #keep(privateKey, publicKeyB64) {
    let stored = null;
    try {
      await keystore.saveIdentity(this.#username, privateKey, publicKeyB64);
      stored = await keystore.loadIdentity(this.#username);
    } catch {
      // IndexedDB unavailable: this tab keeps a non-extractable copy in memory only.
    }
    this.#identity = stored ?? { privateKey: await nonExtractable(privateKey), publicKeyB64 };
    this.dispatchEvent(new Event('change'));
  }

  /** Whether the identity here is still the server's; forgets it (and says so) when not. */
  async #stillCurrent(identity) {
    const server = await api.myKey();
    if (server?.public_key === identity.publicKeyB64) return true;
    if (this.#identity === identity) {
      this.#identity = null;
      this.#roomKeys.clear();
      this.#tokenMaps.clear();
      await keystore.clearIdentity(this.#username).catch(() => {});
      this.dispatchEvent(new Event('locked'));
    }
    return false;
  }

  /** The room key of a version, when this tab has opened it. */
  roomKey(roomId, version) {
    return this.#roomKeys.get(slot(roomId, version))?.key;
  }

  /**
   * Brings this tab's keys of a room up to date and shares the current version
   * with members missing it; with `establish`, makes the current version when
   * nobody holds it. Resolves to `{ version, hasCurrent, canEstablish, missing,
   * withoutKey }` (`canEstablish`: nobody holds the current version, so this
   * tab may make it; `missing`: members still without it), or null while
   * locked. Concurrent calls share a run; a call during one causes one more run
   * after it, so a `room_key` frame is never lost to a run in flight.
   */
  syncRoom(roomId, { establish = false } = {}) {
    const running = this.#syncs.get(roomId);
    if (running) {
      running.again = true;
      running.establish ||= establish;
      return running.promise;
    }
    const sync = { again: false, establish, promise: null };
    sync.promise = (async () => {
      let state;
      try {
        do {
          sync.again = false;
          state = await this.#sync(roomId, sync.establish);
        } while (sync.again);
      } finally {
        this.#syncs.delete(roomId);
      }
      return state;
    })();
    this.#syncs.set(roomId, sync);
    return sync.promise;
  }

  async #sync(roomId, establish) {
    const identity = this.#identity;
    if (!identity) return null;
    let state = await api.roomKeys(roomId);
    await this.#absorb(roomId, state.keys ?? [], identity);
    let canEstablish = !this.roomKey(roomId, state.key_version) && (await this.#nobodyHolds(roomId, state));
    if (canEstablish && establish) {
      const outcome = await this.#establish(roomId, state.key_version, identity);
      if (outcome === 'stale') return null;
      state = await api.roomKeys(roomId);
      await this.#absorb(roomId, state.keys ?? [], identity);
      canEstablish = !this.roomKey(roomId, state.key_version) && (await this.#nobodyHolds(roomId, state));
    }
    let missing = state.missing ?? [];
    if (missing.length > 0 && this.roomKey(roomId, state.key_version)) {
      missing = await this.#share(roomId, state.key_version, missing, identity);
    }
    return {
      version: state.key_version,
      hasCurrent: Boolean(this.roomKey(roomId, state.key_version)),
      canEstablish,
      missing,
      withoutKey: state.without_key ?? [],
    };
  }

  /** Whether no member holds the current version: every one is `missing` it or has no identity key. */
  async #nobodyHolds(roomId, state) {
    const without = new Set([...(state.missing ?? []), ...(state.without_key ?? [])]);
    const members = await api.members(roomId);
    return members.every(({ username }) => without.has(username));
  }

  /**
   * Opens the wrapped keys not opened yet, and those whose wrapped copy
   * changed (another member's key replaced the one made here); one that does
   * not open is left out.
   */
  async #absorb(roomId, entries, identity) {
    for (const entry of entries) {
      const at = slot(roomId, entry.key_version);
      if (this.#roomKeys.get(at)?.wrapped === entry.wrapped_key) continue;
      try {
        const key = await unwrapRoomKey(entry, identity.privateKey, entry.wrapper_public_key, roomId, entry.key_version);
        this.#roomKeys.set(at, { key, wrapped: entry.wrapped_key });
        this.#tokenMaps.delete(at);
      } catch {
        // Wrapped for another key of ours, or damaged: as if not given.
      }
    }
  }

  /**
   * Makes version `version` of a room: a new key for every member with a
   * public key. 'stored', 'taken' (another member made it first), 'moved' (the
   * version or the members changed meanwhile), or 'stale'.
   */
  async #establish(roomId, version, identity) {
    if (!(await this.#stillCurrent(identity))) return 'stale';
    const members = await api.members(roomId);
    const roomKey = await generateRoomKey();
    const wrapped = await Promise.all(
      members.map(async ({ username }) => {
        const publicKey = username === this.#username ? identity.publicKeyB64 : (await api.publicKey(username))?.public_key;
        if (!publicKey) return null;
        try {
          return { username, ...(await wrapRoomKey(roomKey, identity.privateKey, publicKey, roomId, version)) };
        } catch {
          return null; // a public key that is not a P-256 point: nobody can wrap for it
        }
      }),
    );
    const keys = wrapped.filter(Boolean);
    try {
      await api.putRoomKeys(roomId, version, keys);
    } catch (error) {
      if (error.code === 'key_exists') return 'taken';
      if (['unknown_key_version', 'not_member', 'no_public_key'].includes(error.code)) return 'moved';
      throw error;
    }
    const own = keys.find(({ username }) => username === this.#username);
    this.#roomKeys.set(slot(roomId, version), { key: roomKey, wrapped: own?.wrapped_key });
    this.#tokenMaps.delete(slot(roomId, version));
    return 'stored';
  }

  /** Wraps the current key for `missing` members; returns those it could not give it to. */
  async #share(roomId, version, missing, identity) {
    if (!(await this.#stillCurrent(identity))) return missing;
    const roomKey = this.roomKey(roomId, version);
    const wrapped = (
      await Promise.all(
        missing.map(async (username) => {
          const publicKey = (await api.publicKey(username).catch(() => null))?.public_key;
          if (!publicKey) return null;
          try {
            return { username, ...(await wrapRoomKey(roomKey, identity.privateKey, publicKey, roomId, version)) };
          } catch {
            return null;
          }
        }),
      )
    ).filter(Boolean);
    const given = new Set();
    const put = async (keys) => {
      await api.putRoomKeys(roomId, version, keys);
      for (const key of keys) given.add(key.username);
    };
    if (wrapped.length > 0) {
      try {
        await put(wrapped);
      } catch {
        // One member left or reset meanwhile: give it to the others one by one.
        for (const key of wrapped.length > 1 ? wrapped : []) await put([key]).catch(() => {});
      }
    }
    return missing.filter((username) => !given.has(username));
  }

  /** Encrypts `text` with a room's key of `version` (which this tab must hold). */
  encrypt(roomId, version, text) {
    return encryptMessage(this.roomKey(roomId, version), roomId, version, text);
  }

  /** The token of `emoji` under a room's key of `version`, or null without that key. */
  async reactionToken(roomId, version, emoji) {
    const key = this.roomKey(roomId, version);
    return key ? reactionToken(key, version, emoji) : null;
  }

  /**
   * Token -> emoji for every emoji the picker knows, under a room's key of
   * `version`; null without that key.
   */
  reactionTokens(roomId, version) {
    const key = this.roomKey(roomId, version);
    if (!key) return Promise.resolve(null);
    const at = slot(roomId, version);
    let tokens = this.#tokenMaps.get(at);
    if (!tokens) {
      tokens = Promise.all(COMMON_EMOJI.map(async ({ emoji }) => [await reactionToken(key, version, emoji), emoji])).then(
        (pairs) => new Map(pairs),
      );
      tokens.catch(() => this.#tokenMaps.delete(at));
      this.#tokenMaps.set(at, tokens);
    }
    return tokens;
  }
}

/** A non-extractable copy of a private key, for the tab-only fallback. */
async function nonExtractable(privateKey) {
  if (!privateKey.extractable) return privateKey;
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', privateKey);
  return crypto.subtle.importKey('pkcs8', pkcs8, privateKey.algorithm, false, ['deriveKey', 'deriveBits']);
}
