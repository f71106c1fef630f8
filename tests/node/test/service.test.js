// Service information and the protocol as the official Node.js SDK speaks it: signatures,
// regions, POST and GET (docs/serve.md "Protocol").
"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");
const { withServer, client, failsWith, newAlias, b64, unb64, REGION, SECRET_KEY } = require("../lib/harness");

const ctx = withServer();
const T = { timeout: 30_000 };

test("GetServiceStatus", T, async () => {
  const before = await ctx.kms.GetServiceStatus({});
  assert.equal(before.ServiceEnabled, true);
  assert.equal(before.InvalidType, 1);
  assert.equal(typeof before.CmkUserCount, "number");
  await ctx.kms.CreateKey({ Alias: newAlias() });
  assert.equal((await ctx.kms.GetServiceStatus({})).CmkUserCount, before.CmkUserCount + 1);
});

test("GetRegions lists the client's region", T, async () => {
  const { Regions } = await ctx.kms.GetRegions({});
  assert.ok(Array.isArray(Regions));
  assert.ok(Regions.includes(REGION));
  assert.ok(Regions.includes("ap-shanghai"));
});

test("ListAlgorithms names each key usage and its algorithm", T, async () => {
  const out = await ctx.kms.ListAlgorithms({});
  const names = (list) => list.map((a) => `${a.KeyUsage}/${a.Algorithm}`);
  assert.deepEqual(names(out.SymmetricAlgorithms), ["ENCRYPT_DECRYPT/SM4"]);
  assert.ok(names(out.AsymmetricAlgorithms).includes("ASYMMETRIC_DECRYPT_RSA_2048/RSA_2048"));
  assert.ok(names(out.AsymmetricAlgorithms).includes("ASYMMETRIC_DECRYPT_SM2/SM2"));
  assert.ok(names(out.AsymmetricSignVerifyAlgorithms).includes("ASYMMETRIC_SIGN_VERIFY_SM2/SM2"));
  assert.ok(names(out.AsymmetricSignVerifyAlgorithms).includes("ASYMMETRIC_SIGN_VERIFY_ECC/ECC"));
});

test("a wrong SecretKey is AuthFailure.SignatureFailure", T, async () => {
  const wrong = client(ctx.server, { secretKey: SECRET_KEY.replace(/.$/, "X") });
  await failsWith(wrong.ListKeys({}), "AuthFailure.SignatureFailure");
  const unknown = client(ctx.server, { secretId: "AKIDUNKNOWN0000000000000000000000000" });
  await failsWith(unknown.ListKeys({}), "AuthFailure.SecretIdNotFound");
});

test("an unknown region is UnsupportedRegion", T, async () => {
  await failsWith(client(ctx.server, { region: "ap-guangzou" }).ListKeys({}), "UnsupportedRegion");
});

test("regions are separate key spaces", T, async () => {
  const { KeyId } = await ctx.kms.CreateKey({ Alias: newAlias() });
  const shanghai = client(ctx.server, { region: "ap-shanghai" });
  await failsWith(shanghai.DescribeKey({ KeyId }), "ResourceUnavailable.CmkNotFound");
  assert.ok(!(await shanghai.ListKeys({ Limit: 200 })).Keys.some((k) => k.KeyId === KeyId));
});

test("reqMethod GET: flattened query parameters, lists and JSON strings", T, async () => {
  const get = client(ctx.server, { reqMethod: "GET" });
  const alias = newAlias();
  const created = await get.CreateKey({ Alias: alias, Description: "via GET", Tags: [{ TagKey: "m", TagValue: "get" }] });
  const other = (await ctx.kms.CreateKey({ Alias: newAlias() })).KeyId;
  const both = await get.DescribeKeys({ KeyIds: [created.KeyId, other] });
  assert.deepEqual(both.KeyMetadatas.map((m) => m.KeyId).sort(), [created.KeyId, other].sort());
  assert.equal(both.KeyMetadatas.find((m) => m.KeyId === created.KeyId).Description, "via GET");

  const context = JSON.stringify({ purpose: "get & post", n: "1" });
  const { CiphertextBlob } = await get.Encrypt({ KeyId: created.KeyId, Plaintext: b64("across methods"), EncryptionContext: context });
  const viaPost = await ctx.kms.Decrypt({ CiphertextBlob, EncryptionContext: context });
  assert.equal(unb64(viaPost.Plaintext).toString(), "across methods");
  const viaGet = await get.Decrypt({ CiphertextBlob, EncryptionContext: context });
  assert.equal(unb64(viaGet.Plaintext).toString(), "across methods");

  // An undefined field goes out as `EncryptionContext=` (an empty string): read as absent.
  const plain = (await get.Encrypt({ KeyId: created.KeyId, Plaintext: b64("no context") })).CiphertextBlob;
  const absent = await get.Decrypt({ CiphertextBlob: plain, EncryptionContext: undefined });
  assert.equal(unb64(absent.Plaintext).toString(), "no context");

  const page = await get.ListKeys({ Offset: 0, Limit: 1 });
  assert.equal(page.Keys.length, 1);
  assert.equal(typeof page.TotalCount, "number");
  await get.DisableKey({ KeyId: created.KeyId });
  const err = await failsWith(get.Encrypt({ KeyId: created.KeyId, Plaintext: b64("x") }), "ResourceUnavailable.CmkDisabled");
  assert.notEqual(err.requestId, "");
  await failsWith(client(ctx.server, { reqMethod: "GET", secretKey: "x".repeat(32) }).ListKeys({}),
    "AuthFailure.SignatureFailure");
});

test("the legacy HmacSHA256 signature method", T, async () => {
  const { kms } = require("tencentcloud-sdk-nodejs");
  const legacy = new kms.v20190118.Client({
    credential: client(ctx.server).credential, region: REGION,
    profile: { signMethod: "HmacSHA256", httpProfile: { endpoint: ctx.server.host, protocol: "http://" } },
  });
  const { KeyId } = await legacy.CreateKey({ Alias: newAlias() });
  assert.equal((await ctx.kms.DescribeKey({ KeyId })).KeyMetadata.KeyState, "Enabled");
});
