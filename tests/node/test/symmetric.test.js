// Symmetric crypto through the official Node.js SDK: Encrypt/Decrypt with EncryptionContext,
// GenerateDataKey, ReEncrypt, rotation on the mock clock (docs/kms-api.md §4).
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { test } = require("node:test");
const { withServer, failsWith, newAlias, b64, unb64 } = require("../lib/harness");

const ctx = withServer();
const T = { timeout: 30_000 };
const DAY = 86400;

async function newKey(fields = {}) {
  return (await ctx.kms.CreateKey({ Alias: newAlias(), ...fields })).KeyId;
}

async function decrypt(CiphertextBlob, EncryptionContext) {
  const out = await ctx.kms.Decrypt({ CiphertextBlob, EncryptionContext });
  return { keyId: out.KeyId, plaintext: unb64(out.Plaintext) };
}

test("Encrypt/Decrypt round trip binds the EncryptionContext", T, async () => {
  const { kms } = ctx;
  const keyId = await newKey();
  const context = JSON.stringify({ purpose: "node", team: "kms" });
  for (const data of [Buffer.from("hello"), crypto.randomBytes(1), crypto.randomBytes(4096)]) {
    const out = await kms.Encrypt({ KeyId: keyId, Plaintext: b64(data), EncryptionContext: context });
    assert.equal(out.KeyId, keyId);
    assert.notEqual(out.CiphertextBlob, b64(data));
    assert.deepEqual(await decrypt(out.CiphertextBlob, context), { keyId, plaintext: data });
  }
  const { CiphertextBlob } = await kms.Encrypt({ KeyId: keyId, Plaintext: b64("ctx"), EncryptionContext: context });
  await failsWith(decrypt(CiphertextBlob, JSON.stringify({ purpose: "other" })), "InvalidParameterValue.InvalidCiphertext");
  await failsWith(decrypt(CiphertextBlob), "InvalidParameterValue.InvalidCiphertext");
  await failsWith(decrypt("not-a-blob"), "InvalidParameterValue.InvalidCiphertext");
  await failsWith(kms.Encrypt({ KeyId: keyId, Plaintext: b64(crypto.randomBytes(4097)) }),
    "InvalidParameterValue.InvalidPlaintext");
  await failsWith(kms.Encrypt({ KeyId: "00000000-0000-0000-0000-000000000000", Plaintext: b64("x") }),
    "ResourceUnavailable.CmkNotFound");
});

test("GenerateDataKey: the CiphertextBlob decrypts to the Plaintext", T, async () => {
  const { kms } = ctx;
  const keyId = await newKey();
  const context = '{"a":"b"}';
  const out = await kms.GenerateDataKey({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: context });
  const dataKey = unb64(out.Plaintext);
  assert.equal(dataKey.length, 32);
  assert.deepEqual(await decrypt(out.CiphertextBlob, context), { keyId, plaintext: dataKey });
  assert.equal(unb64((await kms.GenerateDataKey({ KeyId: keyId, KeySpec: "AES_128" })).Plaintext).length, 16);
  assert.equal(unb64((await kms.GenerateDataKey({ KeyId: keyId, NumberOfBytes: 24 })).Plaintext).length, 24);
  await failsWith(kms.GenerateDataKey({ KeyId: keyId, NumberOfBytes: 1025 }), "InvalidParameter");
});

test("GenerateDataKey seals the data key to a local RSA public key", T, async () => {
  const keyId = await newKey();
  const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const out = await ctx.kms.GenerateDataKey({
    KeyId: keyId, NumberOfBytes: 32, EncryptionAlgorithm: "RSAES_OAEP_SHA_256",
    EncryptionPublicKey: publicKey.export({ type: "spki", format: "pem" }),
  });
  const wrapped = unb64(out.Plaintext);
  assert.equal(wrapped.length, 256, "the data key comes back encrypted, never in the clear");
  const dataKey = crypto.privateDecrypt(
    { key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, wrapped);
  assert.equal(dataKey.length, 32);
  assert.deepEqual((await decrypt(out.CiphertextBlob)).plaintext, dataKey);
});

test("ReEncrypt moves a ciphertext to another key and context", T, async () => {
  const { kms } = ctx;
  const source = await newKey();
  const target = await newKey();
  const { CiphertextBlob } = await kms.Encrypt({ KeyId: source, Plaintext: b64("moved"), EncryptionContext: '{"v":"1"}' });
  const out = await kms.ReEncrypt({
    CiphertextBlob, SourceEncryptionContext: '{"v":"1"}', DestinationKeyId: target, DestinationEncryptionContext: '{"v":"2"}',
  });
  assert.equal(out.SourceKeyId, source);
  assert.equal(out.KeyId, target);
  assert.equal(out.ReEncrypted, true);
  assert.deepEqual(await decrypt(out.CiphertextBlob, '{"v":"2"}'), { keyId: target, plaintext: Buffer.from("moved") });
  await failsWith(kms.ReEncrypt({ CiphertextBlob, DestinationKeyId: target }), "InvalidParameterValue.InvalidCiphertext");
});

test("rotation: EnableKeyRotation, GetKeyRotationStatus, the mock clock, old versions decrypt", T, async () => {
  const { kms, server } = ctx;
  const keyId = await newKey();
  assert.equal((await kms.GetKeyRotationStatus({ KeyId: keyId })).KeyRotationEnabled, false);
  await kms.EnableKeyRotation({ KeyId: keyId, RotateDays: 7 });
  assert.equal((await kms.GetKeyRotationStatus({ KeyId: keyId })).KeyRotationEnabled, true);
  const before = (await kms.DescribeKey({ KeyId: keyId })).KeyMetadata;
  assert.equal(before.KeyRotationEnabled, true);
  assert.equal(before.RotateDays, 7);
  const old = (await kms.Encrypt({ KeyId: keyId, Plaintext: b64("before rotation") })).CiphertextBlob;

  await server.advance(8 * DAY);
  const after = (await kms.DescribeKey({ KeyId: keyId })).KeyMetadata;
  assert.ok(after.LastRotateTime > before.LastRotateTime);
  assert.ok(after.NextRotateTime > before.NextRotateTime);
  assert.deepEqual(await decrypt(old), { keyId, plaintext: Buffer.from("before rotation") }, "old versions decrypt");

  const re = await kms.ReEncrypt({ CiphertextBlob: old });
  assert.equal(re.ReEncrypted, true);
  assert.equal(re.KeyId, keyId);
  assert.notEqual(re.CiphertextBlob, old);
  assert.equal((await decrypt(re.CiphertextBlob)).plaintext.toString(), "before rotation");

  await failsWith(kms.EnableKeyRotation({ KeyId: keyId, RotateDays: 6 }), "InvalidParameterValue");
  await kms.DisableKeyRotation({ KeyId: keyId });
  assert.equal((await kms.GetKeyRotationStatus({ KeyId: keyId })).KeyRotationEnabled, false);
});

test("RotateKey rotates now, once per rate window", T, async () => {
  const { kms } = ctx;
  const keyId = await newKey();
  await kms.EnableKeyRotation({ KeyId: keyId });
  const blob = (await kms.Encrypt({ KeyId: keyId, Plaintext: b64("v1") })).CiphertextBlob;
  await kms.RotateKey({ KeyId: keyId });
  assert.ok((await kms.DescribeKey({ KeyId: keyId })).KeyMetadata.LastRotateTime > 0);
  await failsWith(kms.RotateKey({ KeyId: keyId }), "RequestLimitExceeded.RotateRateLimited");
  assert.equal((await decrypt(blob)).plaintext.toString(), "v1");
});

test("GenerateRandom answers the requested number of bytes", T, async () => {
  const a = unb64((await ctx.kms.GenerateRandom({ NumberOfBytes: 32 })).Plaintext);
  const b = unb64((await ctx.kms.GenerateRandom({ NumberOfBytes: 32 })).Plaintext);
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
  await failsWith(ctx.kms.GenerateRandom({ NumberOfBytes: 1025 }), "InvalidParameter");
});
