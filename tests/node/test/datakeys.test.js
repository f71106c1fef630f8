// Hosted data keys through the official Node.js SDK (docs/serve.md "Hosted data keys").
"use strict";

const assert = require("node:assert/strict");
const { randomUUID } = require("node:crypto");
const { test } = require("node:test");
const { withServer, failsWith, newAlias, b64, unb64 } = require("../lib/harness");

const ctx = withServer();
const T = { timeout: 30_000 };

const dataKeyName = () => newAlias("dk");

test("GenerateDataKey IsHostedByKms=1, DescribeDataKey, GetDataKeyPlaintext, GetDataKeyCiphertextBlob", T, async () => {
  const { kms } = ctx;
  const keyId = (await kms.CreateKey({ Alias: newAlias() })).KeyId;
  const name = dataKeyName();
  const out = await kms.GenerateDataKey({
    KeyId: keyId, NumberOfBytes: 24, IsHostedByKms: 1, DataKeyName: name, Description: "orders",
    Tags: [{ TagKey: "env", TagValue: "prod" }],
  });
  assert.match(out.DataKeyId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const dataKey = unb64(out.Plaintext);
  assert.equal(dataKey.length, 24);

  const meta = (await kms.DescribeDataKey({ DataKeyId: out.DataKeyId })).DataKeyMetadata;
  assert.equal(meta.DataKeyId, out.DataKeyId);
  assert.equal(meta.DataKeyName, name);
  assert.equal(meta.KeyId, keyId);
  assert.equal(meta.NumberOfBytes, 24);
  assert.equal(meta.KeyState, "Enabled");
  assert.equal(meta.Origin, "TENCENT_KMS");
  assert.equal(meta.Description, "orders");
  assert.equal(meta.ResourceId, `creatorUin/${meta.CreatorUin}/${out.DataKeyId}`);
  const many = await kms.DescribeDataKeys({ DataKeyIds: [out.DataKeyId] });
  assert.deepEqual(many.DataKeyMetadatas.map((m) => m.DataKeyId), [out.DataKeyId]);

  assert.deepEqual(unb64((await kms.GetDataKeyPlaintext({ DataKeyId: out.DataKeyId })).Plaintext), dataKey);
  const blob = (await kms.GetDataKeyCiphertextBlob({ DataKeyId: out.DataKeyId })).CiphertextBlob;
  assert.equal(blob, out.CiphertextBlob);
  assert.deepEqual(unb64((await kms.Decrypt({ CiphertextBlob: blob })).Plaintext), dataKey);

  const listed = await kms.ListDataKeys({ Limit: 200 });
  assert.ok(listed.DataKeys.some((d) => d.DataKeyId === out.DataKeyId));
});

test("hosted data key rules and codes", T, async () => {
  const { kms } = ctx;
  const keyId = (await kms.CreateKey({ Alias: newAlias() })).KeyId;
  await failsWith(kms.GenerateDataKey({ KeyId: keyId, NumberOfBytes: 16, IsHostedByKms: 1 }), "MissingParameter");
  const name = dataKeyName();
  const { DataKeyId } = await kms.GenerateDataKey({ KeyId: keyId, NumberOfBytes: 16, IsHostedByKms: 1, DataKeyName: name });
  await failsWith(kms.GenerateDataKey({ KeyId: keyId, NumberOfBytes: 16, IsHostedByKms: 1, DataKeyName: name }),
    "InvalidParameterValue.DataKeyNameAlreadyExists");
  await failsWith(kms.DescribeDataKey({ DataKeyId: randomUUID() }), "ResourceUnavailable.DataKeyNotFound");

  await kms.DisableDataKey({ DataKeyId });
  await failsWith(kms.GetDataKeyPlaintext({ DataKeyId }), "ResourceUnavailable.DataKeyDisabled");
  await kms.EnableDataKey({ DataKeyId });
  await kms.DisableKey({ KeyId: keyId });
  await failsWith(kms.GetDataKeyPlaintext({ DataKeyId }), "ResourceUnavailable.CmkDisabled");
});
