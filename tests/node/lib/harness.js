// The harness of tests/node (scripts/node-conformance.sh): one `tkms serve` per test file,
// official SDK clients pointed at it, and the assertion on the errors the SDK surfaces.
//
// The server is TKMS_SERVE_CMD (default: <repo>/target/debug/tkms serve) plus
// `--listen 127.0.0.1:0 --test-controls --data-dir <fresh tmp dir>`, with the root credentials
// below in TENCENTCLOUD_SECRET_ID/KEY: the mechanism of tests/python/conftest.py. A client is
// the SDK exactly as a user writes it, only httpProfile.endpoint and protocol changed.
"use strict";

const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { randomUUID } = require("node:crypto");
const { after, before } = require("node:test");
const tencentcloud = require("tencentcloud-sdk-nodejs");

const SdkException = require("tencentcloud-sdk-nodejs/tencentcloud/common/exception/tencent_cloud_sdk_exception").default;

const KmsClient = tencentcloud.kms.v20190118.Client;
const REPO = path.resolve(__dirname, "../../..");
const SECRET_ID = "AKIDTKMSCONFORMANCE000000000000000000";
const SECRET_KEY = "tkmsconformancesecretkey00000000";
const REGION = "ap-guangzhou";
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function serveCommand() {
  const cmd = process.env.TKMS_SERVE_CMD || `${path.join(REPO, "target/debug/tkms")} serve`;
  return cmd.split(/\s+/).filter(Boolean);
}

class Server {
  /** Starts `tkms serve` on a free port; resolves once it answers /healthz. */
  static async start(extraArgs = []) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tkms-node-conformance-"));
    const [program, ...args] = serveCommand();
    args.push("--listen", "127.0.0.1:0", "--test-controls", "--data-dir", dataDir, ...extraArgs);
    const proc = spawn(program, args, {
      env: { ...process.env, TENCENTCLOUD_SECRET_ID: SECRET_ID, TENCENTCLOUD_SECRET_KEY: SECRET_KEY },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const server = new Server(proc, dataDir);
    try {
      server.host = await firstLine(proc, START_TIMEOUT_MS);
      const health = await fetch(`${server.endpoint}/healthz`, { signal: AbortSignal.timeout(5000) });
      if (health.status !== 200) throw new Error(`/healthz answered ${health.status}`);
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  constructor(proc, dataDir) {
    this.proc = proc;
    this.dataDir = dataDir;
    this.host = null;
    // Whatever ends this process (an uncaught error, the runner's timeout), the server goes too.
    this.killOnExit = () => proc.exitCode === null && proc.kill("SIGKILL");
    process.on("exit", this.killOnExit);
  }

  get endpoint() {
    return `http://${this.host}`;
  }

  /** SIGTERM (graceful), SIGKILL after STOP_TIMEOUT_MS; resolves with the exit code. */
  async stop() {
    const proc = this.proc;
    let code = proc.exitCode;
    if (code === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once("exit", (c) => resolve(c)));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
      code = await exited;
      clearTimeout(timer);
    }
    process.removeListener("exit", this.killOnExit);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    return code;
  }

  /** A test control of docs/serve.md ("Test controls"), e.g. control("/_tkms/clock", {Advance: 60}). */
  async control(urlPath, body) {
    const init = body === undefined
      ? { method: "GET" }
      : { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
    const res = await fetch(this.endpoint + urlPath, { ...init, signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`${urlPath} answered ${res.status}`);
    return res.json();
  }

  advance(seconds) {
    return this.control("/_tkms/clock", { Advance: seconds });
  }
}

/** The address from the server's first stdout line, `listening on http://HOST:PORT`. */
function firstLine(proc, timeoutMs) {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: proc.stdout });
    const fail = (why) => {
      clearTimeout(timer);
      lines.close();
      reject(new Error(`tkms serve (${serveCommand().join(" ")}): ${why}`));
    };
    const timer = setTimeout(() => fail(`no address within ${timeoutMs} ms`), timeoutMs);
    proc.once("error", (e) => fail(e.message));
    proc.once("exit", (code) => fail(`exited with ${code} before listening`));
    lines.once("line", (line) => {
      clearTimeout(timer);
      const prefix = "listening on http://";
      if (!line.startsWith(prefix)) return fail(`unexpected first line ${JSON.stringify(line)}`);
      // Keep draining stdout so a chatty server never blocks on a full pipe.
      lines.on("line", () => {});
      resolve(line.slice(prefix.length));
    });
  });
}

/** The official client, as a user writes it; only the endpoint and protocol point at tkms. */
function client(server, { secretId = SECRET_ID, secretKey = SECRET_KEY, region = REGION, reqMethod } = {}) {
  const httpProfile = { endpoint: server.host, protocol: "http://", reqTimeout: 30 };
  if (reqMethod) httpProfile.reqMethod = reqMethod;
  return new KmsClient({ credential: { secretId, secretKey }, region, profile: { httpProfile } });
}

/**
 * The error of a call that must fail with `code`, as the SDK surfaces a service error: a
 * TencentCloudSDKHttpException carrying err.code and the answer's RequestId.
 */
async function failsWith(promise, code) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected ${code}, but the call succeeded`);
  assert.ok(error instanceof SdkException, `not an SDK service error: ${error.stack}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.requestId, UUID, "every error answer carries a RequestId");
  return error;
}

/**
 * A fresh `tkms serve` for the calling test file: started in a before hook, stopped in an after
 * hook; tests read ctx.server and ctx.kms (a client as `client` makes it) once it has started.
 */
function withServer(extraArgs = []) {
  const ctx = { server: null, kms: null };
  before(async () => {
    ctx.server = await Server.start(extraArgs);
    ctx.kms = client(ctx.server);
  });
  after(async () => {
    if (ctx.server) assert.equal(await ctx.server.stop(), 0, "tkms serve exits 0 on SIGTERM");
  });
  return ctx;
}

function newAlias(prefix = "n") {
  return `${prefix}-${randomUUID().replace(/-/g, "").slice(0, 20)}`;
}

const b64 = (buf) => Buffer.from(buf).toString("base64");
const unb64 = (s) => Buffer.from(s, "base64");

module.exports = { Server, client, withServer, failsWith, newAlias, b64, unb64, UUID, SECRET_KEY, REGION };
