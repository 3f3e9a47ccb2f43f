// This device's memory of end-to-end encryption (docs/encrypted-rooms.md), in IndexedDB.
//
// - `identities`: per username, the unlocked identity private key and its public key, so the
//   passphrase is asked once per device, not once per visit. The CryptoKey is stored as is:
//   structured clone keeps it non-extractable, so it can derive room keys but nothing can read it.
// - `seen`: per (owner, member), the fingerprint of the member's key this device saw last, to warn
//   when a member's key changes (a reset, or a server swapping keys).
// - `verified`: per (owner, member), the fingerprint the owner checked with a safety code.
//
// Every record is keyed by the local account (`owner`) too, since two people may share a browser.
// Nothing touches IndexedDB at import time, so node (the unit tests) can import this module.

const DATABASE = 'confab-e2e';
const SCHEMA_VERSION = 1;
const IDENTITIES = 'identities';
const SEEN = 'seen';
const VERIFIED = 'verified';

/** The open database, shared by every call; reset when opening fails or the database closes. */
let opening = null;

function openDatabase() {
  if (opening) return opening;
  const indexedDB = globalThis.indexedDB;
  if (!indexedDB) {
    return Promise.reject(new Error('IndexedDB is not available: this device cannot keep encryption keys.'));
  }
  opening = new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, SCHEMA_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      // Out-of-line keys: a username, or an [owner, member] array.
      for (const store of [IDENTITIES, SEEN, VERIFIED]) {
        if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      // Another tab with a newer version of the UI wants to upgrade the schema: step aside rather
      // than block it; the next call here opens the database again.
      db.onversionchange = () => {
        db.close();
        opening = null;
      };
      db.onclose = () => {
        opening = null;
      };
      resolve(db);
    };
    // No `onblocked` rejection: an older tab closes its connection on `versionchange` (above),
    // and the open then goes on by itself.
    request.onerror = () => reject(request.error ?? new Error(`cannot open IndexedDB ${DATABASE}`));
  });
  opening.catch(() => {
    opening = null; // private modes and full disks fail to open; a later call may succeed
  });
  return opening;
}

/** Runs `work(store)` in one transaction; resolves with the request's result once it committed. */
async function inStore(storeName, mode, work) {
  const db = await openDatabase();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(storeName, mode);
    const request = work(transaction.objectStore(storeName));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = () => reject(transaction.error ?? request.error);
    transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
  });
}

const get = (store, key) => inStore(store, 'readonly', (s) => s.get(key));
const put = (store, key, value) => inStore(store, 'readwrite', (s) => s.put(value, key));
const remove = (store, key) => inStore(store, 'readwrite', (s) => s.delete(key));

/**
 * A non-extractable copy of `privateKey`. Keys fresh from `generateIdentity` are extractable (to be
 * wrapped once); what stays on the device must not be, or an injected script could export it.
 */
async function nonExtractable(privateKey) {
  if (!privateKey.extractable) return privateKey;
  const subtle = globalThis.crypto.subtle;
  const pkcs8 = await subtle.exportKey('pkcs8', privateKey);
  return subtle.importKey('pkcs8', pkcs8, privateKey.algorithm, false, ['deriveKey', 'deriveBits']);
}

/** Keeps the unlocked identity of `username` on this device (stored non-extractable). */
export async function saveIdentity(username, privateKey, publicKeyB64) {
  const stored = await nonExtractable(privateKey);
  await put(IDENTITIES, username, { privateKey: stored, publicKeyB64 });
}

/** The identity of `username` this device unlocked before: `{privateKey, publicKeyB64}`, or null. */
export async function loadIdentity(username) {
  const record = await get(IDENTITIES, username);
  return record ? { privateKey: record.privateKey, publicKeyB64: record.publicKeyB64 } : null;
}

/** Forgets the identity of `username` on this device (log out of encryption, or after a reset). */
export async function clearIdentity(username) {
  await remove(IDENTITIES, username);
}

/** Records the fingerprint of `member`'s key as `owner` last saw it. */
export async function rememberFingerprint(owner, member, fingerprint) {
  await put(SEEN, [owner, member], fingerprint);
}

/** The fingerprint of `member`'s key `owner` last saw on this device, or null. */
export async function seenFingerprint(owner, member) {
  return (await get(SEEN, [owner, member])) ?? null;
}

/** Records that `owner` verified `member`'s key of this fingerprint (safety codes matched). */
export async function markVerified(owner, member, fingerprint) {
  await put(VERIFIED, [owner, member], fingerprint);
}

/**
 * The fingerprint `owner` verified for `member`, or null. Compare it with the member's current
 * fingerprint: a verification holds for that key only, not for a key the member resets to.
 */
export async function verifiedFingerprint(owner, member) {
  return (await get(VERIFIED, [owner, member])) ?? null;
}

/** Withdraws `owner`'s verification of `member`. */
export async function clearVerified(owner, member) {
  await remove(VERIFIED, [owner, member]);
}
