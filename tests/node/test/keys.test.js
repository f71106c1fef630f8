// Key management through the official Node.js SDK: create, describe, list, aliases, tags,
// enable/disable, deletion windows (docs/kms-api.md §4).
"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");
const { withServer, failsWith, newAlias, b64 } = require("../lib/harness");

const ctx = withServer();
const T = { timeout: 30_000 };

async function state(keyId) {
  return (await ctx.kms.DescribeKey({ KeyId: keyId })).KeyMetadata.KeyState;
}

test("CreateKey, DescribeKey, DescribeKeys and ListKeys agree", T, async () => {
  const { kms } = ctx;
  const alias = newAlias();
  const created = await kms.CreateKey({ Alias: alias, Description: "node conformance" });
  assert.equal(created.Alias, alias);
  assert.equal(created.KeyState, "Enabled");
  assert.equal(created.KeyUsage, "ENCRYPT_DECRYPT");
  assert.equal(typeof created.CreateTime, "number");

  const meta = (await kms.DescribeKey({ KeyId: created.KeyId })).KeyMetadata;
  assert.equal(meta.KeyId, created.KeyId);
  assert.equal(meta.Alias, alias);
  assert.equal(meta.Description, "node conformance");
  assert.equal(meta.Origin, "TENCENT_KMS");
  assert.equal(meta.CreateTime, created.CreateTime);
  assert.equal(meta.KeyRotationEnabled, false);
  assert.equal(meta.DeletionDate, 0);

  const other = await kms.CreateKey({ Alias: newAlias(), KeyUsage: "ENCRYPT_DECRYPT" });
  const both = await kms.DescribeKeys({ KeyIds: [created.KeyId, other.KeyId] });
  assert.deepEqual(both.KeyMetadatas.map((m) => m.KeyId).sort(), [created.KeyId, other.KeyId].sort());
  await failsWith(kms.DescribeKeys({ KeyIds: [created.KeyId, created.KeyId] }),
    "InvalidParameterValue.DuplicatedKeyId");

  const listed = await kms.ListKeys({ Offset: 0, Limit: 200 });
  const ids = listed.Keys.map((k) => k.KeyId);
  assert.ok(ids.includes(created.KeyId) && ids.includes(other.KeyId));
  assert.equal(listed.TotalCount, ids.length);
  const page = await kms.ListKeys({ Offset: 0, Limit: 1 });
  assert.equal(page.Keys.length, 1);
  assert.equal(page.TotalCount, listed.TotalCount, "TotalCount counts before Offset/Limit");

  const detail = await kms.ListKeyDetail({ Offset: 0, Limit: 200, KeyState: 1 });
  assert.ok(detail.KeyMetadatas.some((m) => m.KeyId === created.KeyId && m.KeyState === "Enabled"));
});

test("unknown and malformed key ids", T, async () => {
  await failsWith(ctx.kms.DescribeKey({ KeyId: "00000000-0000-0000-0000-000000000000" }),
    "ResourceUnavailable.CmkNotFound");
  await failsWith(ctx.kms.DescribeKey({ KeyId: "not-a-key" }), "InvalidParameterValue.InvalidKeyId");
  await failsWith(ctx.kms.DescribeKey({}), "MissingParameter");
});

test("UpdateAlias renames; a taken alias is refused", T, async () => {
  const { kms } = ctx;
  const a = await kms.CreateKey({ Alias: newAlias() });
  const b = await kms.CreateKey({ Alias: newAlias() });
  const renamed = newAlias("renamed");
  await kms.UpdateAlias({ KeyId: a.KeyId, Alias: renamed });
  assert.equal((await kms.DescribeKey({ KeyId: a.KeyId })).KeyMetadata.Alias, renamed);
  await failsWith(kms.UpdateAlias({ KeyId: b.KeyId, Alias: renamed }), "InvalidParameterValue.AliasAlreadyExists");
  await failsWith(kms.CreateKey({ Alias: renamed }), "InvalidParameterValue.AliasAlreadyExists");
  await failsWith(kms.UpdateAlias({ KeyId: a.KeyId, Alias: "bad alias!" }), "InvalidParameterValue.InvalidAlias");
  await kms.UpdateKeyDescription({ KeyId: a.KeyId, Description: "described" });
  assert.equal((await kms.DescribeKey({ KeyId: a.KeyId })).KeyMetadata.Description, "described");
});

test("tags given at CreateKey filter ListKeyDetail", T, async () => {
  const { kms } = ctx;
  const team = newAlias("team");
  const tagged = await kms.CreateKey({ Alias: newAlias(), Tags: [{ TagKey: team, TagValue: "blue" }] });
  await kms.CreateKey({ Alias: newAlias(), Tags: [{ TagKey: team, TagValue: "red" }] });
  await kms.CreateKey({ Alias: newAlias() });
  const blue = await kms.ListKeyDetail({ Limit: 200, TagFilters: [{ TagKey: team, TagValue: ["blue"] }] });
  assert.deepEqual(blue.KeyMetadatas.map((m) => m.KeyId), [tagged.KeyId]);
  assert.equal(blue.TotalCount, 1);
  const any = await kms.ListKeyDetail({ Limit: 200, TagFilters: [{ TagKey: team, TagValue: ["blue", "red"] }] });
  assert.equal(any.TotalCount, 2);
});

test("a disabled key refuses crypto with CmkDisabled and a RequestId", T, async () => {
  const { kms } = ctx;
  const { KeyId } = await kms.CreateKey({ Alias: newAlias() });
  const { CiphertextBlob } = await kms.Encrypt({ KeyId, Plaintext: b64("before disable") });
  await kms.DisableKey({ KeyId });
  assert.equal(await state(KeyId), "Disabled");
  const err = await failsWith(kms.Encrypt({ KeyId, Plaintext: b64("x") }), "ResourceUnavailable.CmkDisabled");
  assert.ok(err.message.length > 0, "the error carries the service's Message");
  await failsWith(kms.Decrypt({ CiphertextBlob }), "ResourceUnavailable.CmkDisabled");
  await failsWith(kms.GenerateDataKey({ KeyId, KeySpec: "AES_256" }), "ResourceUnavailable.CmkDisabled");

  await kms.EnableKey({ KeyId });
  assert.equal(await state(KeyId), "Enabled");
  assert.equal(Buffer.from((await kms.Decrypt({ CiphertextBlob })).Plaintext, "base64").toString(), "before disable");

  // The batch forms are all or nothing.
  const other = (await kms.CreateKey({ Alias: newAlias() })).KeyId;
  await kms.DisableKeys({ KeyIds: [KeyId, other] });
  assert.deepEqual([await state(KeyId), await state(other)], ["Disabled", "Disabled"]);
  await failsWith(kms.EnableKeys({ KeyIds: [KeyId, "00000000-0000-0000-0000-000000000000"] }),
    "ResourceUnavailable.CmkNotFound");
  assert.equal(await state(KeyId), "Disabled");
  await kms.EnableKeys({ KeyIds: [KeyId, other] });
  assert.deepEqual([await state(KeyId), await state(other)], ["Enabled", "Enabled"]);
});

test("ScheduleKeyDeletion and CancelKeyDeletion follow the state rules", T, async () => {
  const { kms } = ctx;
  const { KeyId } = await kms.CreateKey({ Alias: newAlias() });
  await failsWith(kms.ScheduleKeyDeletion({ KeyId, PendingWindowInDays: 7 }), "ResourceUnavailable.CmkShouldBeDisabled");
  await kms.DisableKey({ KeyId });
  await failsWith(kms.ScheduleKeyDeletion({ KeyId, PendingWindowInDays: 6 }), "InvalidParameter.InvalidPendingWindowInDays");
  await failsWith(kms.ScheduleKeyDeletion({ KeyId, PendingWindowInDays: 31 }), "InvalidParameter.InvalidPendingWindowInDays");
  const scheduled = await kms.ScheduleKeyDeletion({ KeyId, PendingWindowInDays: 7 });
  assert.ok(scheduled.DeletionDate > 0);
  const meta = (await kms.DescribeKey({ KeyId })).KeyMetadata;
  assert.equal(meta.KeyState, "PendingDelete");
  assert.equal(meta.DeletionDate, scheduled.DeletionDate);
  assert.ok(!(await kms.ListKeys({ Limit: 200 })).Keys.some((k) => k.KeyId === KeyId), "ListKeys leaves it out");
  await failsWith(kms.EnableKey({ KeyId }), "ResourceUnavailable.CmkStateNotSupport");

  await kms.CancelKeyDeletion({ KeyId });
  assert.equal(await state(KeyId), "Disabled");
  assert.equal((await kms.DescribeKey({ KeyId })).KeyMetadata.DeletionDate, 0);
  await failsWith(kms.CancelKeyDeletion({ KeyId }), "ResourceUnavailable.CmkNotPendingDelete");
});

test("a key past its deletion date is gone", T, async () => {
  const { kms, server } = ctx;
  const { KeyId } = await kms.CreateKey({ Alias: newAlias() });
  await kms.DisableKey({ KeyId });
  await kms.ScheduleKeyDeletion({ KeyId, PendingWindowInDays: 7 });
  await server.advance(8 * 86400);
  await failsWith(kms.DescribeKey({ KeyId }), "ResourceUnavailable.CmkNotFound");
});
