// Unit tests of the encrypted-rooms cryptography (assets/js/crypto/primitives.js) on node's
// WebCrypto: `node --test tests/js/`, also run by tests/crypto_js.rs under `cargo test`.
//
// PBKDF2 at the real 600,000 iterations costs about half a second per call, so all but one test
// use `allowWeakForTests` with a small count.

import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';

import {
  MIN_PBKDF2_ITERATIONS,
  decryptMessage,
  encryptMessage,
  fingerprint,
  fromBase64,
  generateIdentity,
  generateRecoveryKey,
  generateRoomKey,
  importPublicKey,
  normalizeRecoveryKey,
  reactionToken,
  safetyCode,
  toBase64,
  unwrapIdentity,
  unwrapRoomKey,
  wrapIdentity,
  wrapRoomKey,
} from '../../assets/js/crypto/primitives.js';

const FAST = { iterations: 1000, allowWeakForTests: true };
const ROOM = '01JTESTROOM0000000000000000';
const OTHER_ROOM = '01JTESTROOM0000000000000001';

// The P-256 generator G and 2G, as raw uncompressed points: fixed public keys for known vectors
// (computed independently with Python's hashlib).
const G = 'BGsX0fLhLEJH+Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT+NC4v4af5uO5+tKfA+eFivOM1drMV7Oy7ZAaDe/UfU=';
const TWO_G = 'BHzyexiNA09+ilI4AwS1GsPAiWnid/IbNaYLSPxHZpl4B3dVENuO0EApPZrGn3Qw27p9reY86YIpngS3nSJ4c9E=';
const G_SHA256 = '698bea63dc44a344663ff1429aea10842df27b6b991ef25866b2c6c02cdcc5be';
const G_2G_SAFETY_CODE = '10558 49571 99255 96918 13628 07394 97581 34138 65191 72694 80686 56572';

/** Asserts that `promise` rejects with an Error of this `name`. */
async function rejectsNamed(promise, name) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.name, name, `expected ${name}, got ${error.name}: ${error.message}`);
    return true;
  });
}

/** Asserts that `fn` throws synchronously with an Error of this `name`. */
function throwsNamed(fn, name) {
  assert.throws(fn, (error) => {
    assert.equal(error.name, name, `expected ${name}, got ${error.name}: ${error.message}`);
    return true;
  });
}

/** A copy of a base64 blob with one bit flipped at `index`. */
function flipBit(b64, index = 0) {
  const bytes = fromBase64(b64);
  bytes[index] ^= 1;
  return toBase64(bytes);
}

async function rawKey(key) {
  return new Uint8Array(await crypto.subtle.exportKey('raw', key));
}

describe('base64', () => {
  it('encodes the RFC 4648 vectors with padding and decodes them back', () => {
    const vectors = { '': '', f: 'Zg==', fo: 'Zm8=', foo: 'Zm9v', foob: 'Zm9vYg==', fooba: 'Zm9vYmE=', foobar: 'Zm9vYmFy' };
    for (const [text, b64] of Object.entries(vectors)) {
      assert.equal(toBase64(new TextEncoder().encode(text)), b64);
      assert.equal(new TextDecoder().decode(fromBase64(b64)), text);
    }
  });

  it('round-trips every byte value, ArrayBuffers and large inputs', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(fromBase64(toBase64(all)), all);
    assert.deepEqual(fromBase64(toBase64(all.buffer)), all);
    const large = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251);
    assert.deepEqual(fromBase64(toBase64(large)), large);
    assert.equal(toBase64(large), Buffer.from(large).toString('base64'));
  });

  it('refuses anything but strict standard base64', () => {
    for (const bad of ['abc', 'Zg', 'Zg=', 'Z===', 'Zg==Zg==', 'Zg== ', ' Zg==', 'Zm9v\n', 'Zm-_', 'Zm9v!', null, undefined, 42]) {
      throwsNamed(() => fromBase64(bad), 'InvalidBase64');
    }
  });
});

describe('identity keys', () => {
  it('generates a P-256 pair whose public key is the 65-byte raw point', async () => {
    const identity = await generateIdentity();
    const raw = fromBase64(identity.publicKeyB64);
    assert.equal(raw.length, 65);
    assert.equal(raw[0], 0x04);
    assert.equal(identity.privateKey.algorithm.name, 'ECDH');
    assert.equal(identity.privateKey.algorithm.namedCurve, 'P-256');
    assert.equal(identity.privateKey.extractable, true, 'extractable once, to be wrapped');
    assert.deepEqual(await rawKey(identity.publicKey), raw);
  });

  it('wraps and unwraps at the real 600,000 iterations', async () => {
    const alice = await generateIdentity();
    const { wrapped_private_key, kdf } = await wrapIdentity(alice.privateKey, 'correct horse battery staple');
    assert.deepEqual(Object.keys(kdf).sort(), ['hash', 'iterations', 'iv', 'name', 'salt']);
    assert.equal(kdf.name, 'PBKDF2');
    assert.equal(kdf.hash, 'SHA-256');
    assert.equal(kdf.iterations, MIN_PBKDF2_ITERATIONS);
    assert.equal(kdf.iterations, 600_000);
    assert.equal(fromBase64(kdf.salt).length, 16);
    assert.equal(fromBase64(kdf.iv).length, 12);
    const unlocked = await unwrapIdentity(wrapped_private_key, kdf, 'correct horse battery staple');
    // The unlocked key is the same key: it opens a room key wrapped for the original public key.
    const roomKey = await generateRoomKey();
    const forSelf = await wrapRoomKey(roomKey, alice.privateKey, alice.publicKeyB64, ROOM, 1);
    const opened = await unwrapRoomKey(forSelf, unlocked, alice.publicKeyB64, ROOM, 1);
    assert.deepEqual(await rawKey(opened), await rawKey(roomKey));
  });

  it('gives back a non-extractable private key that still derives', async () => {
    const alice = await generateIdentity();
    const wrapped = await wrapIdentity(alice.privateKey, 'pass phrase', FAST);
    const unlocked = await unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, 'pass phrase', FAST);
    assert.equal(unlocked.extractable, false);
    assert.deepEqual([...unlocked.usages].sort(), ['deriveBits', 'deriveKey']);
    await assert.rejects(crypto.subtle.exportKey('pkcs8', unlocked));
    await assert.rejects(crypto.subtle.exportKey('jwk', unlocked));
    const bob = await generateIdentity();
    const roomKey = await generateRoomKey();
    const forBob = await wrapRoomKey(roomKey, unlocked, bob.publicKeyB64, ROOM, 1);
    const opened = await unwrapRoomKey(forBob, bob.privateKey, alice.publicKeyB64, ROOM, 1);
    assert.deepEqual(await rawKey(opened), await rawKey(roomKey));
  });

  it('refuses a wrong passphrase with WrongPassphrase', async () => {
    const alice = await generateIdentity();
    const wrapped = await wrapIdentity(alice.privateKey, 'right', FAST);
    await rejectsNamed(unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, 'wrong', FAST), 'WrongPassphrase');
    await rejectsNamed(unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, 'Right', FAST), 'WrongPassphrase');
    const tampered = flipBit(wrapped.wrapped_private_key, 5);
    await rejectsNamed(unwrapIdentity(tampered, wrapped.kdf, 'right', FAST), 'WrongPassphrase');
  });

  it('normalizes the passphrase with NFKC', async () => {
    const alice = await generateIdentity();
    const composed = 'caf\u00e9 \uff11\uff12'; // é precomposed, full-width digits
    const decomposed = 'cafe\u0301 12';
    const wrapped = await wrapIdentity(alice.privateKey, composed, FAST);
    await unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, decomposed, FAST);
  });

  it('uses a fresh salt and IV on every wrap', async () => {
    const alice = await generateIdentity();
    const one = await wrapIdentity(alice.privateKey, 'same', FAST);
    const two = await wrapIdentity(alice.privateKey, 'same', FAST);
    assert.notEqual(one.kdf.salt, two.kdf.salt);
    assert.notEqual(one.kdf.iv, two.kdf.iv);
    assert.notEqual(one.wrapped_private_key, two.wrapped_private_key);
  });

  it('refuses weak or absurd iteration counts and empty passphrases when wrapping', async () => {
    const alice = await generateIdentity();
    await rejectsNamed(wrapIdentity(alice.privateKey, 'p', { iterations: 599_999 }), 'InvalidKdf');
    await rejectsNamed(wrapIdentity(alice.privateKey, 'p', { iterations: 1000 }), 'InvalidKdf');
    await rejectsNamed(wrapIdentity(alice.privateKey, 'p', { iterations: 10_000_001, allowWeakForTests: true }), 'InvalidKdf');
    await rejectsNamed(wrapIdentity(alice.privateKey, 'p', { iterations: 1.5, allowWeakForTests: true }), 'InvalidKdf');
    await rejectsNamed(wrapIdentity(alice.privateKey, '', FAST), 'InvalidArgument');
  });

  describe('kdf validation on unwrap', () => {
    let wrapped;
    before(async () => {
      const alice = await generateIdentity();
      wrapped = await wrapIdentity(alice.privateKey, 'secret', FAST);
    });

    const cases = {
      'a missing kdf': () => null,
      'another name': (kdf) => ({ ...kdf, name: 'scrypt' }),
      'another hash': (kdf) => ({ ...kdf, hash: 'SHA-1' }),
      'a string iteration count': (kdf) => ({ ...kdf, iterations: String(kdf.iterations) }),
      'too many iterations': (kdf) => ({ ...kdf, iterations: 10_000_001 }),
      'a salt under 16 bytes': (kdf) => ({ ...kdf, salt: toBase64(new Uint8Array(15)) }),
      'a salt over 64 bytes': (kdf) => ({ ...kdf, salt: toBase64(new Uint8Array(65)) }),
      'a salt that is not base64': (kdf) => ({ ...kdf, salt: 'not base64!' }),
      'a 16-byte iv': (kdf) => ({ ...kdf, iv: toBase64(new Uint8Array(16)) }),
      'a missing iv': (kdf) => ({ ...kdf, iv: undefined }),
    };
    for (const [label, change] of Object.entries(cases)) {
      it(`refuses ${label}`, async () => {
        await rejectsNamed(unwrapIdentity(wrapped.wrapped_private_key, change(wrapped.kdf), 'secret', FAST), 'InvalidKdf');
      });
    }

    it('refuses iterations under 600,000 unless allowWeakForTests', async () => {
      await rejectsNamed(unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, 'secret'), 'InvalidKdf');
      await unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, 'secret', { allowWeakForTests: true });
    });

    it('accepts a 64-byte salt', async () => {
      const kdf = { ...wrapped.kdf, salt: toBase64(new Uint8Array(64)) };
      // A valid kdf, just not the one it was wrapped with: it gets as far as the decryption.
      await rejectsNamed(unwrapIdentity(wrapped.wrapped_private_key, kdf, 'secret', FAST), 'WrongPassphrase');
    });

    it('refuses a wrapped key that is not base64', async () => {
      await rejectsNamed(unwrapIdentity('%%%', wrapped.kdf, 'secret', FAST), 'InvalidBase64');
    });
  });
});

describe('public keys', () => {
  it('imports a generated key and the generator point', async () => {
    const alice = await generateIdentity();
    const imported = await importPublicKey(alice.publicKeyB64);
    assert.equal(imported.type, 'public');
    assert.deepEqual(await rawKey(imported), fromBase64(alice.publicKeyB64));
    await importPublicKey(G);
  });

  it('refuses points off the curve, wrong shapes and bad base64', async () => {
    const alice = await generateIdentity();
    const raw = fromBase64(alice.publicKeyB64);
    const offCurve = raw.slice();
    offCurve[64] ^= 1;
    const zero = new Uint8Array(65);
    zero[0] = 0x04;
    const compressedPrefix = raw.slice();
    compressedPrefix[0] = 0x02;
    for (const bad of [
      toBase64(offCurve),
      toBase64(zero),
      toBase64(compressedPrefix),
      toBase64(raw.subarray(0, 33)),
      toBase64(new Uint8Array([...raw, 0])),
      '',
      'not base64',
      alice.publicKeyB64.slice(0, -1),
    ]) {
      await rejectsNamed(importPublicKey(bad), 'InvalidPublicKey');
    }
  });
});

describe('room keys', () => {
  let alice;
  let bob;
  let carol;
  before(async () => {
    [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  });

  it('generates extractable 256-bit AES-GCM keys', async () => {
    const key = await generateRoomKey();
    assert.equal(key.algorithm.name, 'AES-GCM');
    assert.equal(key.algorithm.length, 256);
    assert.equal(key.extractable, true);
    assert.notDeepEqual(await rawKey(key), await rawKey(await generateRoomKey()));
  });

  it('a key wrapped by A for B opens for B with A\'s public key, and for nobody else', async () => {
    const roomKey = await generateRoomKey();
    const forBob = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 3);
    assert.equal(fromBase64(forBob.iv).length, 12);
    assert.equal(fromBase64(forBob.wrapped_key).length, 32 + 16);

    const opened = await unwrapRoomKey(forBob, bob.privateKey, alice.publicKeyB64, ROOM, 3);
    assert.deepEqual(await rawKey(opened), await rawKey(roomKey));
    assert.equal(opened.extractable, true, 'extractable, to wrap it for later members');

    await rejectsNamed(unwrapRoomKey(forBob, carol.privateKey, alice.publicKeyB64, ROOM, 3), 'UndecryptableKey');
    await rejectsNamed(unwrapRoomKey(forBob, bob.privateKey, carol.publicKeyB64, ROOM, 3), 'UndecryptableKey');
    // ECDH is symmetric: the wrapper can open what it wrapped (it holds the room key anyway).
    const reopened = await unwrapRoomKey(forBob, alice.privateKey, bob.publicKeyB64, ROOM, 3);
    assert.deepEqual(await rawKey(reopened), await rawKey(roomKey));
  });

  it('is bound to the room id and the key version', async () => {
    const roomKey = await generateRoomKey();
    const forBob = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 1);
    await rejectsNamed(unwrapRoomKey(forBob, bob.privateKey, alice.publicKeyB64, OTHER_ROOM, 1), 'UndecryptableKey');
    await rejectsNamed(unwrapRoomKey(forBob, bob.privateKey, alice.publicKeyB64, ROOM, 2), 'UndecryptableKey');
  });

  it('refuses tampered wrapped keys and IVs', async () => {
    const roomKey = await generateRoomKey();
    const forBob = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 1);
    const open = (wrapped) => unwrapRoomKey(wrapped, bob.privateKey, alice.publicKeyB64, ROOM, 1);
    await rejectsNamed(open({ ...forBob, wrapped_key: flipBit(forBob.wrapped_key, 0) }), 'UndecryptableKey');
    await rejectsNamed(open({ ...forBob, wrapped_key: flipBit(forBob.wrapped_key, 47) }), 'UndecryptableKey');
    await rejectsNamed(open({ ...forBob, iv: flipBit(forBob.iv, 11) }), 'UndecryptableKey');
    await rejectsNamed(open({ ...forBob, iv: 'AAAA' }), 'UndecryptableKey');
    await rejectsNamed(open({ ...forBob, wrapped_key: 'not base64' }), 'UndecryptableKey');
    await rejectsNamed(unwrapRoomKey(forBob, bob.privateKey, 'not a key', ROOM, 1), 'UndecryptableKey');
  });

  it('self-wraps, and an unwrapped key can be wrapped again for a new member', async () => {
    const roomKey = await generateRoomKey();
    const forSelf = await wrapRoomKey(roomKey, alice.privateKey, alice.publicKeyB64, ROOM, 1);
    const mine = await unwrapRoomKey(forSelf, alice.privateKey, alice.publicKeyB64, ROOM, 1);
    const forBob = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 1);
    const bobs = await unwrapRoomKey(forBob, bob.privateKey, alice.publicKeyB64, ROOM, 1);
    const forCarol = await wrapRoomKey(bobs, bob.privateKey, carol.publicKeyB64, ROOM, 1);
    const carols = await unwrapRoomKey(forCarol, carol.privateKey, bob.publicKeyB64, ROOM, 1);
    assert.deepEqual(await rawKey(carols), await rawKey(mine));
  });

  it('uses a fresh IV for every wrap', async () => {
    const roomKey = await generateRoomKey();
    const one = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 1);
    const two = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 1);
    assert.notEqual(one.iv, two.iv);
    assert.notEqual(one.wrapped_key, two.wrapped_key);
  });

  it('refuses bad room ids, versions and public keys as programming errors', async () => {
    const roomKey = await generateRoomKey();
    await rejectsNamed(wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, '', 1), 'InvalidArgument');
    await rejectsNamed(wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 0), 'InvalidArgument');
    await rejectsNamed(wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, '1'), 'InvalidArgument');
    await rejectsNamed(wrapRoomKey(roomKey, alice.privateKey, G.slice(4), ROOM, 1), 'InvalidPublicKey');
    const forBob = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 1);
    await rejectsNamed(unwrapRoomKey(forBob, bob.privateKey, alice.publicKeyB64, ROOM, 1.5), 'InvalidArgument');
  });
});

describe('messages', () => {
  let roomKey;
  before(async () => {
    roomKey = await generateRoomKey();
  });

  it('round-trips text of every kind', async () => {
    for (const text of ['hello', '', 'émoji 🎉 and 中文 and \u0000 nul', 'x'.repeat(100_000)]) {
      const blob = await encryptMessage(roomKey, ROOM, 2, text);
      assert.equal(blob.key_version, 2);
      assert.equal(fromBase64(blob.iv).length, 12);
      assert.equal(fromBase64(blob.ciphertext).length, new TextEncoder().encode(text).length + 16);
      assert.equal(await decryptMessage(roomKey, ROOM, 2, blob), text);
    }
  });

  it('uses a fresh IV for every message', async () => {
    const one = await encryptMessage(roomKey, ROOM, 1, 'same');
    const two = await encryptMessage(roomKey, ROOM, 1, 'same');
    assert.notEqual(one.iv, two.iv);
    assert.notEqual(one.ciphertext, two.ciphertext);
  });

  it('does not open in another room or another key version', async () => {
    const blob = await encryptMessage(roomKey, ROOM, 1, 'secret plans');
    await rejectsNamed(decryptMessage(roomKey, OTHER_ROOM, 1, blob), 'UndecryptableMessage');
    await rejectsNamed(decryptMessage(roomKey, ROOM, 2, blob), 'UndecryptableMessage');
  });

  it('does not open under another key, or tampered', async () => {
    const blob = await encryptMessage(roomKey, ROOM, 1, 'secret plans');
    await rejectsNamed(decryptMessage(await generateRoomKey(), ROOM, 1, blob), 'UndecryptableMessage');
    await rejectsNamed(decryptMessage(roomKey, ROOM, 1, { ...blob, ciphertext: flipBit(blob.ciphertext, 0) }), 'UndecryptableMessage');
    const tagByte = fromBase64(blob.ciphertext).length - 1;
    await rejectsNamed(decryptMessage(roomKey, ROOM, 1, { ...blob, ciphertext: flipBit(blob.ciphertext, tagByte) }), 'UndecryptableMessage');
    await rejectsNamed(decryptMessage(roomKey, ROOM, 1, { ...blob, iv: flipBit(blob.iv, 0) }), 'UndecryptableMessage');
    const truncated = toBase64(fromBase64(blob.ciphertext).subarray(0, 10));
    await rejectsNamed(decryptMessage(roomKey, ROOM, 1, { ...blob, ciphertext: truncated }), 'UndecryptableMessage');
    await rejectsNamed(decryptMessage(roomKey, ROOM, 1, { ...blob, ciphertext: 'not base64' }), 'UndecryptableMessage');
    await rejectsNamed(decryptMessage(roomKey, ROOM, 1, { ...blob, iv: '' }), 'UndecryptableMessage');
  });

  it('decrypts what a member encrypted with the key they unwrapped', async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const forBob = await wrapRoomKey(roomKey, alice.privateKey, bob.publicKeyB64, ROOM, 1);
    const bobsKey = await unwrapRoomKey(forBob, bob.privateKey, alice.publicKeyB64, ROOM, 1);
    const blob = await encryptMessage(roomKey, ROOM, 1, 'from alice');
    assert.equal(await decryptMessage(bobsKey, ROOM, 1, blob), 'from alice');
  });
});

describe('reaction tokens', () => {
  const TOKEN = /^v\d+:[A-Za-z0-9_-]{22}$/;

  it('are deterministic per key and emoji, and shaped v{N}:22 chars', async () => {
    const key = await generateRoomKey();
    const token = await reactionToken(key, 4, '👍');
    assert.match(token, TOKEN);
    assert.ok(token.startsWith('v4:'));
    assert.equal(await reactionToken(key, 4, '👍'), token);
    // Same key bytes in another CryptoKey object: same token (it depends on the key, not the object).
    const copy = await crypto.subtle.importKey('raw', await rawKey(key), 'AES-GCM', true, ['encrypt', 'decrypt']);
    assert.equal(await reactionToken(copy, 4, '👍'), token);
  });

  it('differ per emoji and per key', async () => {
    const key = await generateRoomKey();
    const emojis = ['👍', '👎', '🎉', '❤️', '❤', 'a'];
    const tokens = await Promise.all(emojis.map((emoji) => reactionToken(key, 1, emoji)));
    assert.equal(new Set(tokens).size, emojis.length);
    for (const token of tokens) assert.match(token, TOKEN);
    assert.notEqual(await reactionToken(await generateRoomKey(), 1, '👍'), tokens[0]);
  });

  it('match an HMAC computed independently (HKDF + HMAC-SHA-256, first 16 bytes)', async () => {
    const key = await generateRoomKey();
    const { hkdfSync, createHmac } = await import('node:crypto');
    const hmacKey = Buffer.from(hkdfSync('sha256', await rawKey(key), Buffer.alloc(0), 'confab reactions', 32));
    const mac = createHmac('sha256', hmacKey).update('🎉', 'utf8').digest().subarray(0, 16);
    assert.equal(await reactionToken(key, 7, '🎉'), `v7:${mac.toString('base64url')}`);
  });

  it('refuses a bad version or an empty emoji', async () => {
    const key = await generateRoomKey();
    await rejectsNamed(reactionToken(key, 0, '👍'), 'InvalidArgument');
    await rejectsNamed(reactionToken(key, 1, ''), 'InvalidArgument');
  });
});

describe('verification', () => {
  it('fingerprint is the SHA-256 of the raw key, lowercase hex', async () => {
    assert.equal(await fingerprint(G), G_SHA256);
    const alice = await generateIdentity();
    const expected = createHash('sha256').update(fromBase64(alice.publicKeyB64)).digest('hex');
    assert.equal(await fingerprint(alice.publicKeyB64), expected);
    assert.match(await fingerprint(alice.publicKeyB64), /^[0-9a-f]{64}$/);
    await rejectsNamed(fingerprint('nope'), 'InvalidPublicKey');
  });

  it('safety codes are 60 digits in 12 groups, symmetric and pinned to a known vector', async () => {
    const code = await safetyCode(G, TWO_G);
    assert.equal(code, G_2G_SAFETY_CODE);
    assert.equal(await safetyCode(TWO_G, G), code);
    assert.match(code, /^\d{5}( \d{5}){11}$/);
    assert.equal(code.replace(/ /g, '').length, 60);
  });

  it('safety codes differ for different keys', async () => {
    const [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const ab = await safetyCode(alice.publicKeyB64, bob.publicKeyB64);
    assert.equal(await safetyCode(bob.publicKeyB64, alice.publicKeyB64), ab);
    assert.notEqual(await safetyCode(alice.publicKeyB64, carol.publicKeyB64), ab);
    assert.notEqual(await safetyCode(carol.publicKeyB64, bob.publicKeyB64), ab);
    await rejectsNamed(safetyCode(alice.publicKeyB64, 'AAAA'), 'InvalidPublicKey');
  });
});

describe('recovery keys', () => {
  it('are 160 random bits as 8 groups of 4 base32 characters', () => {
    const key = generateRecoveryKey();
    assert.match(key, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
    assert.notEqual(generateRecoveryKey(), key);
  });

  it('normalize to uppercase without spaces or dashes', () => {
    assert.equal(normalizeRecoveryKey(' abcd-EFGH ijkl\n-mnop '), 'ABCDEFGHIJKLMNOP');
    assert.equal(normalizeRecoveryKey('ABCD-EFGH'), 'ABCDEFGH');
  });

  it('unlock the identity when typed with other spacing and case', async () => {
    const alice = await generateIdentity();
    const recoveryKey = generateRecoveryKey();
    const wrapped = await wrapIdentity(alice.privateKey, normalizeRecoveryKey(recoveryKey), FAST);
    const typed = ` ${recoveryKey.toLowerCase().replace(/-/g, ' ').replace(/ (\w{4}) /, '-$1  ')}\n`;
    assert.notEqual(typed, recoveryKey);
    await unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, normalizeRecoveryKey(typed), FAST);
    const otherKey = normalizeRecoveryKey(generateRecoveryKey());
    await rejectsNamed(unwrapIdentity(wrapped.wrapped_private_key, wrapped.kdf, otherKey, FAST), 'WrongPassphrase');
  });
});

describe('keystore', () => {
  it('imports under node without IndexedDB, and says why it cannot work there', async () => {
    const keystore = await import('../../assets/js/crypto/keystore.js');
    await assert.rejects(keystore.loadIdentity('alice'), /IndexedDB is not available/);
  });
});
