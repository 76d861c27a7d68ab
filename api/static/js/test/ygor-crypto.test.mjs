// Checks ygor-crypto.js against a fixture made by the Rust crates (tests/js/main.rs):
//
//     node api/static/js/test/ygor-crypto.test.mjs FIXTURE.json
//
// Exits with status 0 when every check passes, 1 otherwise (each failure is printed). The
// signatures made here are written to the fixture's `output` path for the Rust side to verify.
// Needs Node 20 or later (globalThis.crypto with Ed25519). IndexedDB (saveKey, loadKey,
// forgetKey) is not in Node: those are checked in a browser.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

import {
  canonicalJson,
  decodeBase64url,
  decodeHex32,
  encodeBase64url,
  eventLeafData,
  eventLeafHash,
  importKeyFile,
  leafHashOf,
  signObject,
  signingMessage,
  toHex,
  verifyCheckpoint,
  verifyInclusion,
  verifyObject,
} from '../ygor-crypto.js';

const fixturePath = process.argv[2];
if (!fixturePath) {
  console.error('usage: node ygor-crypto.test.mjs FIXTURE.json');
  process.exit(2);
}
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8'));

let passed = 0;
let failed = 0;

async function check(name, body) {
  try {
    await body();
    passed += 1;
  } catch (error) {
    failed += 1;
    console.error(`FAIL ${name}\n  ${String(error?.stack ?? error).replaceAll('\n', '\n  ')}`);
  }
}

const hex = (bytes) => toHex(bytes);

/** The hex text with one bit flipped in the byte at `index` (bit `bit`). */
function flipBit(text, index = 0, bit = 0) {
  const bytes = decodeHex32(text);
  bytes[index % 32] ^= 1 << bit;
  return toHex(bytes);
}

/** A base64url signature with one bit flipped in its first byte. */
function flipSignature(text) {
  const first = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const value = first.indexOf(text[0]);
  return first[value ^ 1] + text.slice(1);
}

// --- RFC 8785 ----------------------------------------------------------------------------------

for (const { name, value, canonical_hex: expected } of fixture.jcs) {
  await check(`JCS ${name}`, () => assert.equal(hex(canonicalJson(value)), expected));
}
for (const text of fixture.jcs_refused) {
  await check(`JCS refuses ${text}`, () => assert.throws(() => canonicalJson(JSON.parse(text)), /2\^53/));
}
for (const text of fixture.jcs_refused_by_js_only) {
  await check(`JCS (stricter than Rust, by design) refuses ${text}`, () =>
    assert.throws(() => canonicalJson(JSON.parse(text)), /2\^53/),
  );
}
await check('JCS refuses what is not JSON', () => {
  for (const value of [undefined, () => 1, Symbol('x'), NaN, Infinity, new Date(0), new Map(), '\ud800']) {
    assert.throws(() => canonicalJson(value));
  }
});
await check('JCS keeps a member named __proto__', () => {
  const object = JSON.parse('{"__proto__": 1, "a": 2}');
  assert.equal(new TextDecoder().decode(signingMessage('redemption', object)), 'ygor/redemption/v1\n{"__proto__":1,"a":2}');
});

// --- Signing messages --------------------------------------------------------------------------

for (const { kind, object, message_hex: expected } of fixture.messages) {
  await check(`signing message of a ${kind}`, () => assert.equal(hex(signingMessage(kind, object)), expected));
}
await check('an unknown kind is refused', () => assert.throws(() => signingMessage('transfer', {}), /inconnu/));

// --- Key files and signatures ------------------------------------------------------------------

await check('base64url has one text per value, as in Rust', () => {
  const bytes = Uint8Array.from({ length: 64 }, (_, index) => (index * 97 + 13) & 0xff);
  for (const length of [32, 64]) {
    const text = encodeBase64url(bytes.subarray(0, length));
    assert.equal(text, Buffer.from(bytes.subarray(0, length)).toString('base64url'));
    assert.deepEqual(decodeBase64url(text, length), bytes.subarray(0, length));
    assert.equal(decodeBase64url(`${text}=`, length), null);
    assert.equal(decodeBase64url(text.slice(1), length), null);
    assert.equal(decodeBase64url(`+${text.slice(1)}`, length), null);
  }
  // Non-zero trailing bits.
  assert.equal(decodeBase64url(`${'A'.repeat(42)}B`, 32), null);
  assert.equal(decodeBase64url(`${'A'.repeat(85)}B`, 64), null);
});

let partner;
await check('a key file written by Rust imports', async () => {
  partner = await importKeyFile(fixture.key_file.text);
  assert.equal(partner.publicKey, fixture.key_file.public_key);
  assert.equal(partner.privateKey.type, 'private');
  assert.equal(partner.privateKey.extractable, false);
  assert.deepEqual(partner.privateKey.usages, ['sign']);
});
for (const { text, expect } of fixture.bad_key_files) {
  await check(`a bad key file is refused (${expect})`, () =>
    assert.rejects(importKeyFile(text), (error) => error instanceof Error && error.message.includes(expect)),
  );
}

const jsSigned = [];
for (const { kind, unsigned, rust_signed: rustSigned } of fixture.signed) {
  await check(`a ${kind} signed in JS is the one Rust signs`, async () => {
    const signed = await signObject(kind, unsigned, partner.privateKey);
    // Ed25519 is deterministic: same key, same message, same signature.
    assert.equal(signed.signature, rustSigned.signature);
    assert.deepEqual({ ...signed, signature: undefined }, { ...unsigned, signature: undefined });
    jsSigned.push({ kind, object: signed });
  });
  await check(`a ${kind} signed by Rust verifies in JS`, async () => {
    assert.equal(await verifyObject(kind, rustSigned, partner.publicKey), true);
    const other = kind === 'certification' ? 'redemption' : 'certification';
    assert.equal(await verifyObject(other, rustSigned, partner.publicKey), false);
    assert.equal(await verifyObject(kind, { ...rustSigned, signature: flipSignature(rustSigned.signature) }, partner.publicKey), false);
    assert.equal(await verifyObject(kind, { ...rustSigned, extra: 1 }, partner.publicKey), false);
    assert.equal(await verifyObject(kind, rustSigned, fixture.checkpoint.territory_public_key), false);
  });
}
writeFileSync(fixture.output, JSON.stringify({ signed: jsSigned }));

// --- Merkle tree: leaves and inclusion proofs --------------------------------------------------

for (const tree of fixture.trees) {
  const label = `tree of ${tree.size}`;
  for (const proof of tree.proofs) {
    const at = `${label}, leaf ${proof.leaf_index} in size ${proof.tree_size}`;
    await check(`${at}: leaf data and hash computed from the event`, async () => {
      assert.equal(hex(eventLeafData(proof.event)), proof.leaf_data_hex);
      assert.equal(await eventLeafHash(proof.event), proof.leaf_hash);
    });
    const good = {
      leafHash: proof.leaf_hash,
      leafIndex: proof.leaf_index,
      treeSize: proof.tree_size,
      auditPath: proof.audit_path,
      rootHash: proof.root_hash,
    };
    await check(`${at}: the proof verifies`, async () => assert.equal(await verifyInclusion(good), true));
    if (!proof.tamper) continue;
    await check(`${at}: tampered proofs fail`, async () => {
      // The tree size is not among them: a proof of leaf 0 of 7 also "verifies" for sizes 5 to 8,
      // since RFC 9162 binds the size through the root, which the signed checkpoint binds to it.
      const tampered = [
        ['another leaf', { ...good, leafHash: flipBit(good.leafHash, 31, 7) }],
        ['another root', { ...good, rootHash: flipBit(good.rootHash, 5, 3) }],
        ['index + 1', { ...good, leafIndex: good.leafIndex + 1 }],
        ['index − 1', { ...good, leafIndex: good.leafIndex - 1 }],
        ['index = size', { ...good, leafIndex: good.treeSize }],
        ['one more element', { ...good, auditPath: [...good.auditPath, good.rootHash] }],
        ['uppercase hex', { ...good, rootHash: good.rootHash.toUpperCase() }],
      ];
      if (good.auditPath.length > 0) tampered.push(['one element less', { ...good, auditPath: good.auditPath.slice(1) }]);
      good.auditPath.forEach((_, element) => {
        const auditPath = good.auditPath.map((text, index) => (index === element ? flipBit(text, element * 7, element % 8) : text));
        tampered.push([`bit flipped in element ${element}`, { ...good, auditPath }]);
      });
      const tamperedEvent = { ...proof.event, sequence: proof.event.sequence + 1 };
      tampered.push(['another event', { ...good, leafHash: await eventLeafHash(tamperedEvent) }]);
      for (const [what, input] of tampered) {
        assert.equal(await verifyInclusion(input), false, what);
      }
    });
  }
}
await check('the empty leaf of the RFC 6962 test vectors', async () =>
  assert.equal(await leafHashOf(new Uint8Array()), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'),
);
await check('an event with an unknown member has no leaf here either', () => {
  const event = fixture.trees[0].proofs[0].event;
  assert.throws(() => eventLeafData({ ...event, extra: true }), /exactement/);
});

// --- Checkpoints -------------------------------------------------------------------------------

const { territory_public_key: territory, signed, signed_by_another_key: foreign, worked_example } = fixture.checkpoint;
await check('a checkpoint signed by Rust verifies in JS', async () => {
  assert.equal(await verifyCheckpoint(signed, territory), true);
  assert.equal(await verifyCheckpoint(worked_example.checkpoint, worked_example.public_key), true);
});
await check('a checkpoint root is the root of the tree of its size', () => {
  const tree = fixture.trees.find((candidate) => candidate.size === signed.tree_size);
  assert.equal(tree.proofs[0].root_hash, signed.root_hash);
});
await check('tampered checkpoints fail', async () => {
  const tampered = [
    ['size + 1', { ...signed, tree_size: signed.tree_size + 1 }],
    ['another root', { ...signed, root_hash: flipBit(signed.root_hash, 0, 0) }],
    ['another time', { ...signed, signed_at: signed.signed_at.replace(/.Z$/, (end) => `${(+end[0] + 1) % 10}Z`) }],
    ['bit flipped in the signature', { ...signed, signature: flipSignature(signed.signature) }],
    ['a signature of another kind', { ...signed, signature: fixture.signed[0].rust_signed.signature }],
    ['an extra member', { ...signed, note: 'x' }],
    ['a missing member', { ...signed, signed_at: undefined }],
    ['a malformed root', { ...signed, root_hash: signed.root_hash.toUpperCase() }],
    ['signed by another key, naming it', foreign],
    ['signed by another key, naming the territory', { ...foreign, public_key: territory }],
  ];
  for (const [what, checkpoint] of tampered) {
    const clean = Object.fromEntries(Object.entries(checkpoint).filter(([, value]) => value !== undefined));
    assert.equal(await verifyCheckpoint(clean, territory), false, what);
  }
  // The key must come from elsewhere than the checkpoint.
  await assert.rejects(verifyCheckpoint(signed));
});

console.log(`${passed} checks passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
