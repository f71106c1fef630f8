// Records the raw HTTP requests tencentcloud-sdk-nodejs sends, as replayed by
// mock-hsm/tests/server_node_sdk_captures.rs. Not part of the suite; re-run it after changing
// the SDK version in package.json:
//
//   node tests/node/record-captures.js        (writes mock-hsm/tests/data/tc3-node/*.http)
//
// A loopback server stores each request byte for byte and answers a canned success, as the
// recorder of mock-hsm/tests/data/tc3 did for the Python SDK and tccli (README.md there).
"use strict";

const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const tencentcloud = require("tencentcloud-sdk-nodejs");

const OUT = path.resolve(__dirname, "../../mock-hsm/tests/data/tc3-node");
// The dummy credential of every capture (mock-hsm/tests/support/server.rs).
const credential = { secretId: "AKIDEXAMPLE0000000000000000000000000", secretKey: "examplesecretkey0000000000000000" };
const KEY = "23e80852-1e38-11e9-b129-5cb9019b4b01";

/** One request from `socket`: the head, then Content-Length bytes of body. */
function readRequest(socket) {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, end).toString())?.[1] ?? 0);
      if (buf.length >= end + 4 + length) resolve(buf.subarray(0, end + 4 + length));
    });
  });
}

async function main() {
  let name = null;
  const server = net.createServer(async (socket) => {
    const raw = await readRequest(socket);
    fs.writeFileSync(path.join(OUT, name), raw);
    const body = JSON.stringify({ Response: { RequestId: "00000000-0000-4000-8000-000000000000" } });
    socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `127.0.0.1:${server.address().port}`;
  const client = (region, profile = {}) => new tencentcloud.kms.v20190118.Client({
    credential, region,
    profile: { ...profile, httpProfile: { endpoint, protocol: "http://", ...profile.httpProfile } },
  });
  const captures = [
    ["node_Encrypt.http", client("ap-guangzhou"),
      (c) => c.Encrypt({ KeyId: KEY, Plaintext: "aGVsbG8=", EncryptionContext: '{"purpose":"test"}' })],
    ["node_nonascii_CreateKey.http", client("ap-guangzhou"),
      (c) => c.CreateKey({ Alias: "node-key", Description: "中文 ✓", Tags: [{ TagKey: "env", TagValue: "dev" }] })],
    ["node_no_region_ListKeys.http", client(""), (c) => c.ListKeys({ Offset: 0, Limit: 5 })],
    ["node_GET_DescribeKeys.http", client("ap-guangzhou", { httpProfile: { reqMethod: "GET" } }),
      (c) => c.DescribeKeys({ KeyIds: [KEY, "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e"] })],
    ["node_HmacSHA256_POST_GenerateDataKey.http", client("ap-guangzhou", { signMethod: "HmacSHA256" }),
      (c) => c.GenerateDataKey({ KeyId: KEY, NumberOfBytes: 32, EncryptionContext: '{"a":"b c"}' })],
  ];
  for (const [file, c, call] of captures) {
    name = file;
    await call(c);
  }
  server.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
