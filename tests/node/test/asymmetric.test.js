// Asymmetric keys through the official Node.js SDK: RSA decryption of what node:crypto encrypted
// to GetPublicKey, SM2 and ECC signatures (docs/kms-api.md §4.5).
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { test } = require("node:test");
const { withServer, failsWith, newAlias, b64, unb64 } = require("../lib/harness");

const ctx = withServer();
const T = { timeout: 30_000 };

async function newKey(KeyUsage) {
  return (await ctx.kms.CreateKey({ Alias: newAlias(), KeyUsage })).KeyId;
}

/** GetPublicKey's PEM, after checking its DER form is the same key. */
async function publicKey(keyId) {
  const out = await ctx.kms.GetPublicKey({ KeyId: keyId });
  assert.equal(out.KeyId, keyId);
  const pem = crypto.createPublicKey(out.PublicKeyPem);
  const der = crypto.createPublicKey({ key: unb64(out.PublicKey), format: "der", type: "spki" });
  assert.ok(pem.equals(der), "PublicKey (DER) and PublicKeyPem are the same key");
  return pem;
}

// DER of OBJECT IDENTIFIER 1.2.156.10197.1.301 (GB/T 32918's curve sm2p256v1).
const SM2_CURVE_OID = Buffer.from("06082a811ccf5501822d", "hex");

const PADDINGS = {
  RSAES_OAEP_SHA_256: { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
  RSAES_OAEP_SHA_1: { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" },
};

for (const [algorithm, padding] of Object.entries(PADDINGS)) {
  test(`AsymmetricRsaDecrypt opens node:crypto ${algorithm}`, T, async () => {
    const { kms } = ctx;
    const keyId = await newKey("ASYMMETRIC_DECRYPT_RSA_2048");
    const key = await publicKey(keyId);
    assert.equal(key.asymmetricKeyType, "rsa");
    assert.equal(key.asymmetricKeyDetails.modulusLength, 2048);
    const secret = crypto.randomBytes(32);
    const ciphertext = crypto.publicEncrypt({ key, ...padding }, secret);
    const out = await kms.AsymmetricRsaDecrypt({ KeyId: keyId, Ciphertext: b64(ciphertext), Algorithm: algorithm });
    assert.deepEqual(unb64(out.Plaintext), secret);

    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 1] ^= 1;
    await failsWith(kms.AsymmetricRsaDecrypt({ KeyId: keyId, Ciphertext: b64(tampered), Algorithm: algorithm }),
      "FailedOperation.DecryptError");
    const symmetric = await newKey("ENCRYPT_DECRYPT");
    await failsWith(kms.AsymmetricRsaDecrypt({ KeyId: symmetric, Ciphertext: b64(ciphertext), Algorithm: algorithm }),
      "InvalidParameterValue.InvalidKeyUsage");
    await failsWith(kms.GetPublicKey({ KeyId: symmetric }), "InvalidParameterValue.InvalidKeyUsage");
  });
}

test("SM2 SignByAsymmetricKey / VerifyByAsymmetricKey", T, async () => {
  const { kms } = ctx;
  const keyId = await newKey("ASYMMETRIC_SIGN_VERIFY_SM2");
  const spki = (await publicKey(keyId)).export({ format: "der", type: "spki" });
  assert.ok(spki.includes(SM2_CURVE_OID), "an SM2 public key (curve 1.2.156.10197.1.301)");
  const message = Buffer.from("signed by tkms through the Node.js SDK");
  const { Signature } = await kms.SignByAsymmetricKey({
    KeyId: keyId, Algorithm: "SM2DSA", MessageType: "RAW", Message: b64(message),
  });
  assert.ok(unb64(Signature).length >= 64);
  const verify = async (msg, sig, MessageType = "RAW") => (await kms.VerifyByAsymmetricKey({
    KeyId: keyId, Algorithm: "SM2DSA", MessageType, Message: b64(msg), SignatureValue: sig,
  })).SignatureValid;
  assert.equal(await verify(message, Signature), true);
  assert.equal(await verify(Buffer.from("another message"), Signature), false);
  const otherKey = await newKey("ASYMMETRIC_SIGN_VERIFY_SM2");
  assert.equal((await kms.VerifyByAsymmetricKey({
    KeyId: otherKey, Algorithm: "SM2DSA", MessageType: "RAW", Message: b64(message), SignatureValue: Signature,
  })).SignatureValid, false);

  await failsWith(kms.SignByAsymmetricKey({ KeyId: keyId, Algorithm: "SM2DSA", MessageType: "DIGEST", Message: b64("short") }),
    "InvalidParameter");
  await failsWith(kms.SignByAsymmetricKey({ KeyId: keyId, Algorithm: "RSA_PSS_SHA_256", Message: b64(message) }),
    "InvalidParameterValue");
  // SignByAsymmetricKey's documented error list has CmkStateNotSupport, not CmkDisabled.
  await kms.DisableKey({ KeyId: keyId });
  await failsWith(kms.SignByAsymmetricKey({ KeyId: keyId, Algorithm: "SM2DSA", Message: b64(message) }),
    "ResourceUnavailable.CmkStateNotSupport");
});

test("ECC P-256 signatures verify with node:crypto", T, async () => {
  const keyId = await newKey("ASYMMETRIC_SIGN_VERIFY_ECC");
  const key = await publicKey(keyId);
  assert.equal(key.asymmetricKeyDetails.namedCurve, "prime256v1");
  const message = Buffer.from("checked by node:crypto");
  const { Signature } = await ctx.kms.SignByAsymmetricKey({
    KeyId: keyId, Algorithm: "ECC_P256_R1", MessageType: "RAW", Message: b64(message),
  });
  assert.equal(crypto.verify("sha256", message, key, unb64(Signature)), true);
  assert.equal(crypto.verify("sha256", Buffer.from("tampered"), key, unb64(Signature)), false);
  const digest = crypto.createHash("sha256").update(message).digest();
  const fromDigest = await ctx.kms.SignByAsymmetricKey({
    KeyId: keyId, Algorithm: "ECC_P256_R1", MessageType: "DIGEST", Message: b64(digest),
  });
  assert.equal(crypto.verify("sha256", message, key, unb64(fromDigest.Signature)), true);
});

test("RSA-2048 PSS signatures verify with node:crypto", T, async () => {
  const keyId = await newKey("ASYMMETRIC_SIGN_VERIFY_RSA_2048");
  const key = await publicKey(keyId);
  const message = Buffer.from("release 1.2.3");
  const { Signature } = await ctx.kms.SignByAsymmetricKey({
    KeyId: keyId, Algorithm: "RSA_PSS_SHA_256", MessageType: "RAW", Message: b64(message),
  });
  const pss = { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_AUTO };
  assert.equal(crypto.verify("sha256", message, pss, unb64(Signature)), true);
  assert.equal((await ctx.kms.VerifyByAsymmetricKey({
    KeyId: keyId, Algorithm: "RSA_PSS_SHA_256", Message: b64(message), SignatureValue: Signature,
  })).SignatureValid, true);
});
