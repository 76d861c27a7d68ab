// Ygor's cryptography in the browser: the same bytes as the Rust crates `ygor-crypto` and
// `ygor-audit`, with WebCrypto (Ed25519, SHA-256) and nothing else.
//
// - Partners sign their certifications and redemptions here: the key file is imported once into a
//   non-extractable CryptoKey kept in IndexedDB, so the secret never leaves the browser, and the
//   server never sees it.
// - Citizens check here, trusting no server, that the territory signed a checkpoint of the log and
//   that an event is in the tree that checkpoint covers (RFC 9162).
//
// The byte formats are specified in docs/audit.md; tests/js/main.rs checks this module against
// the Rust code byte for byte (api/static/js/test/ygor-crypto.test.mjs).
//
// Plain ES module, no dependency. Needs WebCrypto's Ed25519 (Chromium 137, Firefox 129, Safari 17,
// Node 20).

const encoder = new TextEncoder();

/** The largest integer a JSON number carries exactly (2^53 − 1). */
export const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER;

/** The context string of each kind of signed object (`SignedKind::context` in Rust). */
export const CONTEXTS = Object.freeze({
  certification: 'ygor/certification/v1',
  redemption: 'ygor/redemption/v1',
  checkpoint: 'ygor/checkpoint/v1',
  voucher: 'ygor/voucher/v1',
});

/** The fields each kind leaves out of its signed message (`SignedKind::excluded_fields`). */
const EXCLUDED = Object.freeze({
  certification: ['signature'],
  redemption: ['signature'],
  checkpoint: ['signature', 'public_key'],
  voucher: ['signature'],
});

const ED25519 = { name: 'Ed25519' };

// ---------------------------------------------------------------------------------------------
// RFC 8785 (JCS)

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function canonicalString(text) {
  if (LONE_SURROGATE.test(text)) {
    throw new Error('JSON canonique (RFC 8785) : une chaîne contient une moitié de paire UTF-16 isolée.');
  }
  // JSON.stringify escapes exactly as RFC 8785 does: \" \\ \b \f \n \r \t, the other controls as
  // lowercase \u00xx, and nothing else.
  return JSON.stringify(text);
}

function canonicalNumber(number) {
  if (typeof number === 'bigint') {
    if (number > BigInt(MAX_SAFE_INTEGER) || number < -BigInt(MAX_SAFE_INTEGER)) {
      throw new Error(`JSON canonique (RFC 8785) : l'entier ${number} dépasse ±(2^53 − 1) et ne peut pas être écrit exactement.`);
    }
    return String(number);
  }
  if (!Number.isFinite(number)) {
    throw new Error(`JSON canonique (RFC 8785) : ${number} n'est pas un nombre JSON.`);
  }
  // Rust (serde_json) reads a number written without fraction or exponent that fits in i64 or
  // u64 as an integer, and refuses it beyond ±(2^53 − 1), since its canonical form would be
  // another number; any other number is a double, written as such. JSON.parse has lost the
  // spelling, so every integral value that may have been such an integer (up to 2^64, down to
  // −2^63) is refused, as JSON.parse("9007199254740993") would otherwise be signed as
  // 9007199254740992. This refuses a few doubles Rust accepts (9007199254740992.0, 1e19), which
  // Ygor never writes; numbers beyond are written as doubles, as Rust writes them.
  if (Number.isInteger(number) && Math.abs(number) > MAX_SAFE_INTEGER && number <= 2 ** 64 && number >= -(2 ** 63)) {
    throw new Error(`JSON canonique (RFC 8785) : le nombre ${number} dépasse ±(2^53 − 1) et ne peut pas être écrit exactement.`);
  }
  // ECMAScript's Number::toString is RFC 8785's number form (and writes -0 as 0).
  return String(number);
}

function canonicalText(value) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
    case 'bigint':
      return canonicalNumber(value);
    case 'string':
      return canonicalString(value);
    case 'object':
      if (Array.isArray(value)) return `[${value.map(canonicalText).join(',')}]`;
      if (isPlainObject(value)) {
        // Array.prototype.sort without a comparator orders strings by their UTF-16 code units,
        // which is RFC 8785's order.
        const names = Object.keys(value).sort();
        return `{${names.map((name) => `${canonicalString(name)}:${canonicalText(value[name])}`).join(',')}}`;
      }
      break;
    default:
      break;
  }
  throw new Error(`JSON canonique (RFC 8785) : une valeur de type ${typeof value} n'est pas du JSON.`);
}

/**
 * The RFC 8785 canonical form of a JSON value, as UTF-8 bytes: `ygor_crypto::canonical_json`.
 * Integers beyond ±(2^53 − 1) are refused (a BigInt too).
 * @param {unknown} value a value as JSON.parse returns it
 * @returns {Uint8Array}
 */
export function canonicalJson(value) {
  return encoder.encode(canonicalText(value));
}

// ---------------------------------------------------------------------------------------------
// Signed objects

function contextOf(kind) {
  if (!Object.hasOwn(CONTEXTS, kind)) {
    throw new Error(`Type d'objet signé inconnu : ${String(kind)} (attendu : ${Object.keys(CONTEXTS).join(', ')}).`);
  }
  return CONTEXTS[kind];
}

/**
 * The exact bytes signed for an object of a kind: `context + "\n" + JCS(object minus
 * "signature")` (minus "public_key" too for a checkpoint): `ygor_crypto::signing_message`.
 * @param {'certification'|'redemption'|'checkpoint'|'voucher'} kind
 * @param {object} object
 * @returns {Uint8Array}
 */
export function signingMessage(kind, object) {
  const context = contextOf(kind);
  if (!isPlainObject(object)) throw new Error('Seul un objet JSON peut être signé.');
  // No prototype, so that a member named "__proto__" stays a member.
  const kept = Object.create(null);
  for (const name of Object.keys(object)) {
    if (!EXCLUDED[kind].includes(name)) kept[name] = object[name];
  }
  return encoder.encode(`${context}\n${canonicalText(kept)}`);
}

// ---------------------------------------------------------------------------------------------
// Text encodings: base64url without padding (keys, signatures) and lowercase hex (hashes)

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Base64url without padding, as Ygor writes keys and signatures. */
export function encodeBase64url(bytes) {
  let text = '';
  for (let at = 0; at < bytes.length; at += 3) {
    const chunk = (bytes[at] << 16) | ((bytes[at + 1] ?? 0) << 8) | (bytes[at + 2] ?? 0);
    const characters = Math.min(4, Math.ceil(((bytes.length - at) * 8) / 6));
    for (let index = 0; index < characters; index += 1) {
      text += BASE64URL[(chunk >> (18 - 6 * index)) & 63];
    }
  }
  return text;
}

/**
 * Decodes base64url text that must hold exactly `length` bytes, as strictly as Rust does (no
 * padding, URL-safe alphabet, zero trailing bits), so that each value has one text; null if not.
 */
export function decodeBase64url(text, length) {
  if (typeof text !== 'string' || text.length !== Math.ceil((length * 4) / 3)) return null;
  const bytes = new Uint8Array(length);
  let bits = 0;
  let buffer = 0;
  let written = 0;
  for (const character of text) {
    const value = BASE64URL.indexOf(character);
    if (value < 0) return null;
    buffer = (buffer << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[written] = (buffer >> bits) & 0xff;
      written += 1;
      buffer &= (1 << bits) - 1;
    }
  }
  return buffer === 0 ? bytes : null;
}

/** Lowercase hex, as Ygor writes hashes. */
export function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Decodes 64 lowercase hex characters (uppercase refused, as in Rust); null if not. */
export function decodeHex32(text) {
  if (typeof text !== 'string' || !/^[0-9a-f]{64}$/.test(text)) return null;
  const bytes = new Uint8Array(32);
  for (let index = 0; index < 32; index += 1) bytes[index] = parseInt(text.slice(2 * index, 2 * index + 2), 16);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Keys and signatures

const NOT_A_KEY_FILE =
  'Ce fichier n\'est pas un fichier de clé Ygor : il doit contenir {"public_key": "…", "secret_key": "…"}, ' +
  'tel que l\'écrit « ygor keys generate ».';
const MISMATCHED_KEY_FILE =
  'Ce fichier de clé est incohérent : sa clé publique ne correspond pas à sa clé secrète.';
const NO_ED25519 =
  'Ce navigateur ne sait pas signer avec Ed25519 (WebCrypto) : mettez-le à jour ou utilisez-en un autre.';

/** Imports a public key written as Ygor writes it (43 base64url characters); null if malformed. */
async function importPublicKey(text) {
  const bytes = decodeBase64url(text, 32);
  if (bytes === null) return null;
  try {
    return await crypto.subtle.importKey('raw', bytes, ED25519, false, ['verify']);
  } catch (error) {
    if (error?.name === 'NotSupportedError') throw new Error(NO_ED25519);
    return null;
  }
}

/**
 * Reads a key file written by `ygor keys generate` (`write_key_file`) and imports its secret as a
 * non-extractable Ed25519 key that can only sign. Throws an Error with a French message when the
 * text is not a key file or when its public key is not the one of its secret key.
 * @param {string} text the file's content (e.g. `await file.text()`)
 * @returns {Promise<{publicKey: string, privateKey: CryptoKey}>}
 */
export async function importKeyFile(text) {
  if (typeof text !== 'string' || text.length > 4096) throw new Error(NOT_A_KEY_FILE);
  let content;
  try {
    content = JSON.parse(text);
  } catch {
    throw new Error(`${NOT_A_KEY_FILE} (ce n'est pas du JSON)`);
  }
  const names = isPlainObject(content) ? Object.keys(content).sort() : [];
  if (names.join(',') !== 'public_key,secret_key') throw new Error(NOT_A_KEY_FILE);
  const { public_key: publicKey, secret_key: secretKey } = content;
  if (typeof secretKey !== 'string' || decodeBase64url(secretKey, 32) === null) {
    throw new Error('Ce fichier de clé est abîmé : sa clé secrète n\'est pas une clé Ed25519 de 32 octets en base64url.');
  }
  if (typeof publicKey !== 'string' || decodeBase64url(publicKey, 32) === null) {
    throw new Error('Ce fichier de clé est abîmé : sa clé publique n\'est pas une clé Ed25519 de 32 octets en base64url.');
  }
  let privateKey;
  try {
    const jwk = { kty: 'OKP', crv: 'Ed25519', d: secretKey, x: publicKey };
    privateKey = await crypto.subtle.importKey('jwk', jwk, ED25519, false, ['sign']);
  } catch (error) {
    if (error?.name === 'NotSupportedError') throw new Error(NO_ED25519);
    // Node refuses a JWK whose x is not the public key of its d.
    throw new Error(MISMATCHED_KEY_FILE);
  }
  // Chromium may take x as given: a signature that the file's public key verifies proves that the
  // two keys belong together, without ever holding an extractable copy of the secret.
  const verifier = await importPublicKey(publicKey);
  const probe = encoder.encode('ygor/key-file-check/v1');
  const signature = await crypto.subtle.sign(ED25519, privateKey, probe);
  if (verifier === null || !(await crypto.subtle.verify(ED25519, verifier, signature, probe))) {
    throw new Error(MISMATCHED_KEY_FILE);
  }
  return { publicKey, privateKey };
}

/**
 * Signs an object and returns a copy with its `signature` set (replacing any earlier one), as
 * `ygor_crypto::sign_object` does; Ed25519 is deterministic, so the signature is the very one the
 * Rust code makes with the same key.
 * @param {'certification'|'redemption'|'checkpoint'|'voucher'} kind
 * @param {object} object
 * @param {CryptoKey} privateKey
 * @returns {Promise<object>}
 */
export async function signObject(kind, object, privateKey) {
  const message = signingMessage(kind, object);
  const signature = new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, message));
  return { ...object, signature: encodeBase64url(signature) };
}

/**
 * Whether an object's `signature` verifies as an object of `kind` under a public key written as
 * Ygor writes it; false for a missing or malformed signature or key.
 * @returns {Promise<boolean>}
 */
export async function verifyObject(kind, object, publicKeyText) {
  const message = signingMessage(kind, object);
  const signature = decodeBase64url(object.signature, 64);
  const key = await importPublicKey(publicKeyText);
  if (signature === null || key === null) return false;
  return crypto.subtle.verify(ED25519, key, signature, message);
}

// ---------------------------------------------------------------------------------------------
// A partner's key, kept in this browser (IndexedDB holds the CryptoKey itself, not its bytes)

const DATABASE = 'ygor';
const STORE = 'partner-keys';

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const database = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = database.transaction(STORE, mode);
      const request = action(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    database.close();
  }
}

/** Keeps a partner's imported key in this browser. */
export function saveKey(partnerId, { publicKey, privateKey }) {
  return withStore('readwrite', (store) => store.put({ publicKey, privateKey }, String(partnerId)));
}

/** The key kept for a partner, `{publicKey, privateKey}`, or null. */
export async function loadKey(partnerId) {
  return (await withStore('readonly', (store) => store.get(String(partnerId)))) ?? null;
}

/** Forgets the key kept for a partner in this browser. */
export function forgetKey(partnerId) {
  return withStore('readwrite', (store) => store.delete(String(partnerId)));
}

// ---------------------------------------------------------------------------------------------
// The audit log: RFC 9162 leaves, inclusion proofs and checkpoints

async function sha256(...parts) {
  const length = parts.reduce((total, part) => total + part.length, 0);
  const joined = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
}

/**
 * The hash of a leaf, `SHA-256(0x00 ‖ data)`, in hex (`ygor_audit::leaf_hash`).
 * @param {Uint8Array} bytes the leaf data
 * @returns {Promise<string>}
 */
export async function leafHashOf(bytes) {
  return toHex(await sha256(Uint8Array.of(0x00), bytes));
}

const EVENT_FIELDS = [
  'aggregate_id',
  'aggregate_type',
  'event_type',
  'event_version',
  'payload',
  'position',
  'recorded_at',
  'sequence',
];

/**
 * The leaf data of an exported event (`ygor_audit::leaf_data`): the JCS form of the whole object
 * as `GET /v1/audit/events` gives it, all eight members. Refuses an object with other members,
 * like the Rust code, since the leaf covers every member.
 * @returns {Uint8Array}
 */
export function eventLeafData(event) {
  const names = isPlainObject(event) ? Object.keys(event).sort() : [];
  if (names.join(',') !== EVENT_FIELDS.join(',')) {
    throw new Error(`Un événement exporté a exactement les champs ${EVENT_FIELDS.join(', ')}.`);
  }
  return canonicalJson(event);
}

/**
 * The leaf hash of an exported event, in hex: `SHA-256(0x00 ‖ JCS(event))`
 * (`ygor_audit::event_leaf_hash`).
 * @returns {Promise<string>}
 */
export function eventLeafHash(event) {
  return leafHashOf(eventLeafData(event));
}

function toIndex(value) {
  return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : null;
}

/**
 * Verifies an RFC 9162 §2.1.3.2 inclusion proof as `GET /v1/audit/proof/{position}` gives it
 * (hashes in lowercase hex): that the leaf `leafHash` is leaf `leafIndex` of the tree of
 * `treeSize` leaves whose root is `rootHash` (`ygor_audit::verify_inclusion`). Malformed input is
 * a failed proof.
 * @param {{leafHash: string, leafIndex: number, treeSize: number, auditPath: string[], rootHash: string}} proof
 * @returns {Promise<boolean>}
 */
export async function verifyInclusion({ leafHash, leafIndex, treeSize, auditPath, rootHash }) {
  const leaf = decodeHex32(leafHash);
  const root = decodeHex32(rootHash);
  let first = toIndex(leafIndex);
  let last = toIndex(treeSize);
  if (leaf === null || root === null || first === null || last === null || !Array.isArray(auditPath)) return false;
  // Step 1.
  if (first >= last) return false;
  // Steps 2 and 3.
  last -= 1n;
  let hash = leaf;
  const node = Uint8Array.of(0x01);
  // Step 4.
  for (const text of auditPath) {
    const sibling = decodeHex32(text);
    if (sibling === null || last === 0n) return false;
    if ((first & 1n) === 1n || first === last) {
      hash = await sha256(node, sibling, hash);
      if ((first & 1n) === 0n) {
        while ((first & 1n) === 0n && first !== 0n) {
          first >>= 1n;
          last >>= 1n;
        }
      }
    } else {
      hash = await sha256(node, hash, sibling);
    }
    first >>= 1n;
    last >>= 1n;
  }
  // Step 5.
  return last === 0n && toHex(hash) === toHex(root);
}

const CHECKPOINT_FIELDS = ['public_key', 'root_hash', 'signature', 'signed_at', 'tree_size'];
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Verifies a checkpoint as `GET /v1/audit/checkpoint` gives it: that it names the territory's key
 * `publicKeyText` (obtained out of band, never from the checkpoint itself), that its fields have
 * their shape, and that the territory's Ed25519 signature covers
 * `"ygor/checkpoint/v1\n" + JCS({root_hash, signed_at, tree_size})`
 * (`ygor_audit::verify_checkpoint_from`).
 * @param {{tree_size: number, root_hash: string, signed_at: string, signature: string, public_key: string}} checkpoint
 * @param {string} publicKeyText the territory's public key, base64url
 * @returns {Promise<boolean>}
 */
export async function verifyCheckpoint(checkpoint, publicKeyText) {
  if (typeof publicKeyText !== 'string') {
    throw new TypeError('verifyCheckpoint : il faut la clé publique du territoire, connue par ailleurs.');
  }
  const names = isPlainObject(checkpoint) ? Object.keys(checkpoint).sort() : [];
  if (names.join(',') !== CHECKPOINT_FIELDS.join(',')) return false;
  const { tree_size: treeSize, root_hash: rootHash, signed_at: signedAt } = checkpoint;
  if (checkpoint.public_key !== publicKeyText) return false;
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) return false;
  if (decodeHex32(rootHash) === null || typeof signedAt !== 'string' || !RFC_3339.test(signedAt)) return false;
  return verifyObject('checkpoint', checkpoint, publicKeyText);
}
