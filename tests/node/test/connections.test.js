// Connections as Node.js 20 makes them: its global agent keeps sockets alive, so the SDK reuses
// connections the server may close when idle (docs/serve.md "Connections and timeouts").
"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");
const { withServer, newAlias, b64, unb64 } = require("../lib/harness");

const ctx = withServer(["--idle-timeout", "1"]);
const T = { timeout: 30_000 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("calls after the server closed an idle keep-alive connection succeed", T, async () => {
  const { KeyId } = await ctx.kms.CreateKey({ Alias: newAlias() });
  for (const pause of [900, 1000, 1100, 1300]) {
    await sleep(pause);
    assert.equal((await ctx.kms.DescribeKey({ KeyId })).KeyMetadata.KeyId, KeyId);
  }
});

test("concurrent calls on one client", T, async () => {
  const { KeyId } = await ctx.kms.CreateKey({ Alias: newAlias() });
  const messages = Array.from({ length: 24 }, (_, i) => `message ${i}`);
  const blobs = await Promise.all(messages.map((m) => ctx.kms.Encrypt({ KeyId, Plaintext: b64(m) })));
  const clear = await Promise.all(blobs.map((b) => ctx.kms.Decrypt({ CiphertextBlob: b.CiphertextBlob })));
  assert.deepEqual(clear.map((c) => unb64(c.Plaintext).toString()), messages);
});
