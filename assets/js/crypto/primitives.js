// The cryptography of end-to-end encrypted rooms (docs/encrypted-rooms.md), as pure functions.
//
// Everything goes through WebCrypto (`globalThis.crypto.subtle`): no cipher code of our own and no
// dependencies, so the same file runs in the browser (/js/crypto/primitives.js) and under
// `node --test` (tests/js/crypto.test.mjs). Binary values cross the API as standard base64 with
// padding, the form the server stores and relays.
//
// Failures a caller must tell apart carry a distinct `error.name`:
// - `WrongPassphrase`: the passphrase or recovery key does not open the identity key;
// - `UndecryptableKey`: a wrapped room key cannot be opened (not for us, tampered, wrong wrapper);
// - `UndecryptableMessage`: a message blob does not open under the given key, room and version;
// - `InvalidBase64`, `InvalidPublicKey`, `InvalidKdf`, `InvalidArgument`: malformed input.

/** The floor of PBKDF2 iterations the server accepts (OWASP 2023 for PBKDF2-HMAC-SHA-256). */
export const MIN_PBKDF2_ITERATIONS = 600_000;
/** The ceiling the server accepts: also keeps a hostile `kdf` from freezing the tab for minutes. */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

const P256 = { name: 'ECDH', namedCurve: 'P-256' };
const RAW_PUBLIC_KEY_BYTES = 65; // 0x04 || x || y, the uncompressed point
const GCM_IV_BYTES = 12;
const PBKDF2_SALT_BYTES = 16;
const MIN_SALT_BYTES = 16;
const MAX_SALT_BYTES = 64;
const ROOM_KEY_BYTES = 32;
const REACTION_TOKEN_BYTES = 16;
const SAFETY_CODE_GROUPS = 12;
const SAFETY_CODE_GROUP_BYTES = 5;
const RECOVERY_KEY_BYTES = 20; // 160 bits: 32 base32 characters
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const utf8 = new TextEncoder();
// `fatal`: a message that authenticates but is not UTF-8 is a broken client; say so, not U+FFFD.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** An Error whose `name` callers branch on; the original failure stays in `cause`. */
function namedError(name, message, cause) {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  error.name = name;
  return error;
}

/**
 * WebCrypto, looked up on each use rather than at import: browsers hide `crypto.subtle` outside
 * secure contexts, and the chat must still load there (it just cannot open encrypted rooms).
 */
function subtle() {
  const api = globalThis.crypto?.subtle;
  if (!api) {
    throw namedError(
      'CryptoUnavailable',
      'WebCrypto is not available here: encrypted rooms need HTTPS (or localhost).',
    );
  }
  return api;
}

function randomBytes(length) {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

function asBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw namedError('InvalidArgument', 'expected a Uint8Array or an ArrayBuffer');
}

// ---- encoding ----------------------------------------------------------------------------------

/** Standard base64 with padding of `bytes` (a Uint8Array, another typed view, or an ArrayBuffer). */
export function toBase64(bytes) {
  const view = asBytes(bytes);
  let binary = '';
  // Chunked: String.fromCharCode(...hugeArray) overflows the argument stack.
  for (let start = 0; start < view.length; start += 0x8000) {
    binary += String.fromCharCode(...view.subarray(start, start + 0x8000));
  }
  return btoa(binary);
}

/**
 * The bytes of standard base64 with padding. Stricter than `atob`, which skips whitespace and
 * missing padding: a blob that is not exactly what the server stores is refused, not guessed at.
 */
export function fromBase64(text) {
  if (typeof text !== 'string' || !STRICT_BASE64.test(text)) {
    throw namedError('InvalidBase64', 'not valid base64 (standard alphabet, with padding)');
  }
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64Url(bytes) {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function toHex(bytes) {
  return Array.from(asBytes(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

function requireVersion(version) {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw namedError('InvalidArgument', `a key version is a positive integer, not ${version}`);
  }
}

function requireRoomId(roomId) {
  if (typeof roomId !== 'string' || roomId === '') {
    throw namedError('InvalidArgument', 'a room id is a non-empty string');
  }
}

/** The raw bytes of a P-256 public key, checked for shape (the curve check is WebCrypto's). */
function publicKeyBytes(publicKeyB64) {
  let raw;
  try {
    raw = fromBase64(publicKeyB64);
  } catch (error) {
    throw namedError('InvalidPublicKey', 'a public key must be base64', error);
  }
  if (raw.length !== RAW_PUBLIC_KEY_BYTES || raw[0] !== 0x04) {
    throw namedError(
      'InvalidPublicKey',
      `a public key is a ${RAW_PUBLIC_KEY_BYTES}-byte uncompressed P-256 point, got ${raw.length} bytes`,
    );
  }
  return raw;
}

// ---- identity keys -----------------------------------------------------------------------------

/**
 * A new identity key pair. The private key is extractable only so that `wrapIdentity` can export
 * it once; keep the unwrapped, non-extractable copy (`unwrapIdentity`, keystore.js) afterwards.
 */
export async function generateIdentity() {
  const { privateKey, publicKey } = await subtle().generateKey(P256, true, ['deriveKey', 'deriveBits']);
  const publicKeyB64 = toBase64(await subtle().exportKey('raw', publicKey));
  return { privateKey, publicKey, publicKeyB64 };
}

/** Iteration counts under the floor exist only so the unit tests need not spend seconds per call. */
function checkIterations(iterations, allowWeakForTests) {
  const floor = allowWeakForTests ? 1 : MIN_PBKDF2_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < floor || iterations > MAX_PBKDF2_ITERATIONS) {
    throw namedError(
      'InvalidKdf',
      `PBKDF2 iterations must be between ${MIN_PBKDF2_ITERATIONS} and ${MAX_PBKDF2_ITERATIONS}, not ${iterations}`,
    );
  }
}

/** The AES-256-GCM key PBKDF2-SHA-256 makes of a passphrase or normalized recovery key. */
async function passphraseKey(secret, salt, iterations) {
  if (typeof secret !== 'string' || secret === '') {
    throw namedError('InvalidArgument', 'the passphrase is empty');
  }
  // NFKC: the same passphrase typed on another keyboard or OS (composed vs decomposed accents,
  // full-width digits) must give the same key.
  const material = await subtle().importKey('raw', utf8.encode(secret.normalize('NFKC')), 'PBKDF2', false, [
    'deriveKey',
  ]);
  return subtle().deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/**
 * Encrypts the identity private key under `secret` (an encryption passphrase, or a recovery key
 * after `normalizeRecoveryKey`) for `PUT /api/keys/me`.
 */
export async function wrapIdentity(privateKey, secret, { iterations = MIN_PBKDF2_ITERATIONS, allowWeakForTests = false } = {}) {
  checkIterations(iterations, allowWeakForTests);
  const salt = randomBytes(PBKDF2_SALT_BYTES);
  const iv = randomBytes(GCM_IV_BYTES);
  const key = await passphraseKey(secret, salt, iterations);
  const pkcs8 = await subtle().exportKey('pkcs8', privateKey);
  const wrapped = await subtle().encrypt({ name: 'AES-GCM', iv }, key, pkcs8);
  return {
    wrapped_private_key: toBase64(wrapped),
    kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations, salt: toBase64(salt), iv: toBase64(iv) },
  };
}

/** The salt and IV of a `kdf` object, after checking it is what `PUT /api/keys/me` accepts. */
function parseKdf(kdf, allowWeakForTests) {
  if (!kdf || typeof kdf !== 'object') throw namedError('InvalidKdf', 'the kdf parameters are missing');
  if (kdf.name !== 'PBKDF2' || kdf.hash !== 'SHA-256') {
    throw namedError('InvalidKdf', `unsupported kdf ${kdf.name}/${kdf.hash}; expected PBKDF2/SHA-256`);
  }
  checkIterations(kdf.iterations, allowWeakForTests);
  let salt;
  let iv;
  try {
    salt = fromBase64(kdf.salt);
    iv = fromBase64(kdf.iv);
  } catch (error) {
    throw namedError('InvalidKdf', 'the kdf salt and iv must be base64', error);
  }
  if (salt.length < MIN_SALT_BYTES || salt.length > MAX_SALT_BYTES) {
    throw namedError('InvalidKdf', `the kdf salt must be ${MIN_SALT_BYTES}-${MAX_SALT_BYTES} bytes, got ${salt.length}`);
  }
  if (iv.length !== GCM_IV_BYTES) {
    throw namedError('InvalidKdf', `the kdf iv must be ${GCM_IV_BYTES} bytes, got ${iv.length}`);
  }
  return { salt, iv };
}

/**
 * Opens a wrapped identity key. The result is NOT extractable: once unlocked, the private key can
 * derive room keys but no script (ours or injected) can read it out of the browser again.
 * `allowWeakForTests` accepts kdf iteration counts under the floor, for the unit tests only.
 */
export async function unwrapIdentity(wrapped_private_key, kdf, secret, { allowWeakForTests = false } = {}) {
  const { salt, iv } = parseKdf(kdf, allowWeakForTests);
  const wrapped = fromBase64(wrapped_private_key);
  const key = await passphraseKey(secret, salt, kdf.iterations);
  let pkcs8;
  try {
    pkcs8 = await subtle().decrypt({ name: 'AES-GCM', iv }, key, wrapped);
  } catch (error) {
    // GCM authentication failed: with a well-formed kdf that means the secret is wrong.
    throw namedError('WrongPassphrase', 'the passphrase or recovery key is not correct', error);
  }
  try {
    return await subtle().importKey('pkcs8', pkcs8, P256, false, ['deriveKey', 'deriveBits']);
  } catch (error) {
    throw namedError('InvalidKey', 'the stored identity key is not a P-256 private key', error);
  }
}

/** A member's public identity key; refuses anything that is not a point on P-256. */
export async function importPublicKey(publicKeyB64) {
  const raw = publicKeyBytes(publicKeyB64);
  try {
    return await subtle().importKey('raw', raw, P256, true, []);
  } catch (error) {
    throw namedError('InvalidPublicKey', 'the public key is not a point on P-256', error);
  }
}

// ---- room keys ---------------------------------------------------------------------------------

/** A new room key (one per room and key version). Extractable, so it can be wrapped for members. */
export function generateRoomKey() {
  return subtle().generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
}

/**
 * The AES-256-GCM key that wraps a room key between two identities: HKDF-SHA-256 over their ECDH
 * shared secret, salted with the room id and bound to the version through `info`, so a wrapped
 * key cannot be passed off as another room's or another version's.
 */
async function pairwiseWrappingKey(myPrivateKey, theirPublicKeyB64, roomId, version) {
  requireRoomId(roomId);
  requireVersion(version);
  const theirPublicKey = await importPublicKey(theirPublicKeyB64);
  const shared = await subtle().deriveBits({ name: 'ECDH', public: theirPublicKey }, myPrivateKey, 256);
  const material = await subtle().importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  return subtle().deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: utf8.encode(roomId), info: utf8.encode(`confab room key v${version}`) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/**
 * Wraps `roomKey` for the member whose public key is `theirPublicKeyB64` (your own, to keep a copy
 * for yourself), as one entry of `PUT /api/rooms/{id}/keys`.
 */
export async function wrapRoomKey(roomKey, myPrivateKey, theirPublicKeyB64, roomId, version) {
  const wrappingKey = await pairwiseWrappingKey(myPrivateKey, theirPublicKeyB64, roomId, version);
  const iv = randomBytes(GCM_IV_BYTES);
  const raw = await subtle().exportKey('raw', roomKey);
  const wrapped = await subtle().encrypt({ name: 'AES-GCM', iv }, wrappingKey, raw);
  return { wrapped_key: toBase64(wrapped), iv: toBase64(iv) };
}

/**
 * Opens a wrapped room key with our private key and the wrapper's public key (the server's
 * `wrapper_public_key`). The key comes back extractable, so we can wrap it for members who join
 * later. Any failure, malformed input included, is an `UndecryptableKey`.
 */
export async function unwrapRoomKey({ wrapped_key, iv }, myPrivateKey, wrapperPublicKeyB64, roomId, version) {
  // Our own mistakes (a missing room id or version) stay loud instead of passing for a bad key.
  requireRoomId(roomId);
  requireVersion(version);
  let raw;
  try {
    const wrappingKey = await pairwiseWrappingKey(myPrivateKey, wrapperPublicKeyB64, roomId, version);
    raw = await subtle().decrypt({ name: 'AES-GCM', iv: fromBase64(iv) }, wrappingKey, fromBase64(wrapped_key));
  } catch (error) {
    throw namedError('UndecryptableKey', `cannot open the key of version ${version} of this room`, error);
  }
  if (raw.byteLength !== ROOM_KEY_BYTES) {
    throw namedError('UndecryptableKey', `a room key is ${ROOM_KEY_BYTES} bytes, got ${raw.byteLength}`);
  }
  return subtle().importKey('raw', raw, { name: 'AES-GCM' }, true, ['encrypt', 'decrypt']);
}

// ---- messages ----------------------------------------------------------------------------------

/** The GCM additional data that pins a message blob to its room and key version. */
function messageAdditionalData(roomId, version) {
  requireRoomId(roomId);
  requireVersion(version);
  return utf8.encode(`${roomId}:${version}`);
}

/** Encrypts a message text for a send or an edit; the result is the wire fields as they are. */
export async function encryptMessage(roomKey, roomId, version, text) {
  if (typeof text !== 'string') throw namedError('InvalidArgument', 'a message text is a string');
  const additionalData = messageAdditionalData(roomId, version);
  const iv = randomBytes(GCM_IV_BYTES);
  const ciphertext = await subtle().encrypt({ name: 'AES-GCM', iv, additionalData }, roomKey, utf8.encode(text));
  return { ciphertext: toBase64(ciphertext), iv: toBase64(iv), key_version: version };
}

/** The text of a message blob; any failure, malformed input included, is an `UndecryptableMessage`. */
export async function decryptMessage(roomKey, roomId, version, { ciphertext, iv }) {
  const additionalData = messageAdditionalData(roomId, version);
  try {
    const plaintext = await subtle().decrypt(
      { name: 'AES-GCM', iv: fromBase64(iv), additionalData },
      roomKey,
      fromBase64(ciphertext),
    );
    return strictUtf8.decode(plaintext);
  } catch (error) {
    throw namedError('UndecryptableMessage', 'this message cannot be decrypted with the key of its room', error);
  }
}

// ---- reactions ---------------------------------------------------------------------------------

/**
 * The HMAC key of reaction tokens per room key. Members hash every emoji they know to map tokens
 * back, so the HKDF step runs once per key, not once per emoji. Weak: it goes with the key.
 */
const reactionKeys = new WeakMap();

function reactionKey(roomKey) {
  let pending = reactionKeys.get(roomKey);
  if (!pending) {
    pending = (async () => {
      const raw = await subtle().exportKey('raw', roomKey);
      const material = await subtle().importKey('raw', raw, 'HKDF', false, ['deriveKey']);
      return subtle().deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8.encode('confab reactions') },
        material,
        { name: 'HMAC', hash: 'SHA-256', length: 256 },
        false,
        ['sign'],
      );
    })();
    pending.catch(() => reactionKeys.delete(roomKey)); // a failure must not stick
    reactionKeys.set(roomKey, pending);
  }
  return pending;
}

/** The token that stands for `emoji` in an encrypted room of key version `version`: `v{N}:` + 22 chars. */
export async function reactionToken(roomKey, version, emoji) {
  requireVersion(version);
  if (typeof emoji !== 'string' || emoji === '') throw namedError('InvalidArgument', 'an emoji is a non-empty string');
  const mac = await subtle().sign('HMAC', await reactionKey(roomKey), utf8.encode(emoji));
  return `v${version}:${toBase64Url(new Uint8Array(mac, 0, REACTION_TOKEN_BYTES))}`;
}

// ---- verification ------------------------------------------------------------------------------

/** SHA-256 of the raw public key, lowercase hex: the same value as the server's `fingerprint`. */
export async function fingerprint(publicKeyB64) {
  return toHex(await subtle().digest('SHA-256', publicKeyBytes(publicKeyB64)));
}

/** Orders two byte strings bytewise (shorter first on a common prefix), like memcmp. */
function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/**
 * The safety code two members compare (out loud or side by side) to verify each other's keys.
 *
 * Derivation: sort the two raw 65-byte public keys bytewise (so both sides get the same code),
 * hash their concatenation with SHA-512 (SHA-256 is too short for 60 bytes), and read the first 60
 * bytes as 12 chunks of 5 bytes. Each chunk, a big-endian 40-bit integer, mod 100000 and
 * zero-padded, is one group of 5 digits: 60 digits in all, about 199 bits of the hash (the mod
 * bias, 2^40 vs 10^5, is under 1e-7). Unlike Signal, both keys feed one hash, so the code has no
 * "your half / my half"; and a single pass suffices because 199 bits leave nothing to grind.
 */
export async function safetyCode(publicKeyA_B64, publicKeyB_B64) {
  const [first, second] = [publicKeyBytes(publicKeyA_B64), publicKeyBytes(publicKeyB_B64)].sort(compareBytes);
  const joined = new Uint8Array(first.length + second.length);
  joined.set(first, 0);
  joined.set(second, first.length);
  const hash = new Uint8Array(await subtle().digest('SHA-512', joined));
  const groups = [];
  for (let group = 0; group < SAFETY_CODE_GROUPS; group += 1) {
    let value = 0;
    for (const byte of hash.subarray(group * SAFETY_CODE_GROUP_BYTES, (group + 1) * SAFETY_CODE_GROUP_BYTES)) {
      value = value * 256 + byte; // 40 bits stay exact in a double (53-bit mantissa)
    }
    groups.push(String(value % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

// ---- recovery keys -----------------------------------------------------------------------------

/** RFC 4648 base32 without padding. */
function toBase32(bytes) {
  let output = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      output += BASE32_ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1; // keep only the bits not yet written, so the shift never overflows
  }
  if (bits > 0) output += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return output;
}

/**
 * A new recovery key: 160 random bits as base32 in groups of 4 (`ABCD-EFGH-...`, 8 groups), easy
 * to write down. Use `normalizeRecoveryKey(key)` as the `secret` of wrapIdentity/unwrapIdentity.
 */
export function generateRecoveryKey() {
  return toBase32(randomBytes(RECOVERY_KEY_BYTES)).match(/.{1,4}/g).join('-');
}

/** A recovery key as typed or pasted, in the form used as a secret: uppercase, no spaces or dashes. */
export function normalizeRecoveryKey(input) {
  return String(input).toUpperCase().replace(/[\s-]+/g, '');
}
