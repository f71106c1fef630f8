// White-box keys through the official Node.js SDK (docs/whitebox.md): EncryptByWhiteBox output
// opened by node:crypto with the key inside the DecryptKey the mock handed out.
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { test } = require("node:test");
const { withServer, failsWith, newAlias, b64, unb64 } = require("../lib/harness");

const ctx = withServer();
const T = { timeout: 30_000 };

/** The raw key in an EncryptKey/DecryptKey, after its header "TKWB" 1 role algorithm 1 (docs/whitebox.md). */
function rawKey(encoded, role, algorithm) {
  const data = unb64(encoded);
  assert.deepEqual(data.subarray(0, 8), Buffer.concat([Buffer.from("TKWB"), Buffer.from([1, role.charCodeAt(0), algorithm, 1])]));
  return data.subarray(8);
}

for (const [algorithm, code, cipher, length] of [["AES_256", 1, "aes-256-cbc", 32], ["SM4", 2, "sm4-cbc", 16]]) {
  test(`EncryptByWhiteBox ${algorithm} opens with node:crypto ${cipher}`, T, async () => {
    const { kms } = ctx;
    const created = await kms.CreateWhiteBoxKey({ Alias: newAlias("wb"), Algorithm: algorithm, Description: "node" });
    const key = rawKey(created.DecryptKey, "D", code);
    assert.equal(key.length, length);
    assert.deepEqual(rawKey(created.EncryptKey, "E", code), key);
    assert.equal((await kms.DescribeWhiteBoxDecryptKey({ KeyId: created.KeyId })).DecryptKey, created.DecryptKey);
    const info = (await kms.DescribeWhiteBoxKey({ KeyId: created.KeyId })).KeyInfo;
    assert.equal(info.KeyId, created.KeyId);
    assert.equal(info.Algorithm, algorithm);
    assert.equal(info.Status, "Enabled");

    for (const plaintext of [Buffer.from("a"), crypto.randomBytes(16), crypto.randomBytes(4096)]) {
      const iv = crypto.randomBytes(16);
      const out = await kms.EncryptByWhiteBox({ KeyId: created.KeyId, PlainText: b64(plaintext), InitializationVector: b64(iv) });
      assert.equal(out.InitializationVector, b64(iv));
      const decipher = crypto.createDecipheriv(cipher, key, iv);
      assert.deepEqual(Buffer.concat([decipher.update(unb64(out.CipherText)), decipher.final()]), plaintext);
    }
    const generated = await kms.EncryptByWhiteBox({ KeyId: created.KeyId, PlainText: b64("generated iv") });
    const iv = unb64(generated.InitializationVector);
    assert.equal(iv.length, 16);
    const decipher = crypto.createDecipheriv(cipher, key, iv);
    assert.equal(Buffer.concat([decipher.update(unb64(generated.CipherText)), decipher.final()]).toString(), "generated iv");

    await kms.DisableWhiteBoxKey({ KeyId: created.KeyId });
    await failsWith(kms.EncryptByWhiteBox({ KeyId: created.KeyId, PlainText: b64("x") }), "ResourceUnavailable.KeyDisabled");
    await kms.DeleteWhiteBoxKey({ KeyId: created.KeyId });
    await failsWith(kms.DescribeWhiteBoxKey({ KeyId: created.KeyId }), "ResourceNotFound");
  });
}

test("DescribeWhiteBoxServiceStatus and an unknown algorithm", T, async () => {
  assert.equal((await ctx.kms.DescribeWhiteBoxServiceStatus({})).ServiceEnabled, true);
  await failsWith(ctx.kms.CreateWhiteBoxKey({ Alias: newAlias("wb"), Algorithm: "AES_128" }), "InvalidParameterValue");
});
