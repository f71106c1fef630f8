"""CAM through the official SDK: `tkms serve --config` with a sub-user, a collaborator and a role
(docs/cam.md). Each test checks the audit trail shows its calls with the right result."""

import json
import os
import pathlib
import queue
import shlex
import subprocess
import tempfile
import threading
import time

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from conftest import REGION, SECRET_ID, SECRET_KEY, Server, call, create_key, make_client

UIN = 100000000001
ENC_ID, ENC_KEY = "AKIDCAMENCRYPTONLY000000000000000000", "camencryptonlysecret000000000000"
OPS_ID, OPS_KEY = "AKIDCAMOPS00000000000000000000000000", "camopssecret00000000000000000000"
PLAINTEXT = "aGVsbG8gY2Ft"  # "hello cam"

CONFIG = f"""
[audit]
retention_days = 180

[policies]
encrypt-only = '{{"version":"2.0","statement":[{{"effect":"allow","action":"kms:Encrypt","resource":"qcs::kms:{REGION}:uin/{UIN}:key/*"}}]}}'
ops = '{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:Describe*","kms:List*"],"resource":"*"}},{{"effect":"deny","action":"kms:DisableKey","resource":"*"}}]}}'

[[accounts]]
uin = {UIN}

[[users]]
name = "enc"
account = {UIN}
kind = "sub_user"
secret_id = "{ENC_ID}"
secret_key = "{ENC_KEY}"
policies = ["encrypt-only"]

[[users]]
name = "ops"
account = {UIN}
kind = "collaborator"
secret_id = "{OPS_ID}"
secret_key = "{OPS_KEY}"
policies = ["ops"]

[[roles]]
name = "encryptor"
account = {UIN}
trust = ["ops"]
policies = ["encrypt-only"]
"""


class CamServer(Server):
    """`tkms serve` with `--config`."""

    def __init__(self, data_dir, config_path):
        self.config_path = config_path
        super().__init__(data_dir)

    def start(self):
        repo = pathlib.Path(__file__).resolve().parents[2]
        cmd = shlex.split(os.environ.get("TKMS_SERVE_CMD", str(repo / "target/debug/tkms") + " serve"))
        self.tkms = cmd[0]
        cmd += ["--listen", "127.0.0.1:0", "--test-controls", "--data-dir", str(self.data_dir),
                "--config", str(self.config_path)]
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        # stderr lines as they come (SIGHUP reports its outcome there), for wait_for_log.
        self.log = queue.Queue()
        threading.Thread(target=lambda: [self.log.put(l) for l in self.proc.stderr], daemon=True).start()
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on http://"), f"unexpected first line from {cmd}: {line!r}"
        self.host = line[len("listening on http://"):]
        self.endpoint = "http://" + self.host

    def wait_for_log(self, prefix, deadline_s=20):
        """The next stderr line starting with `prefix`, waiting at most `deadline_s` seconds."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                line = self.log.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no stderr line starting with {prefix!r} within {deadline_s} s")
            if line.startswith(prefix):
                return line

    def audit(self, **filters):
        return self.control("/_tkms/audit", filters)["Records"]


def serve_config(config_text, prefix):
    """A fixture body: a CamServer over `config_text` in a fresh directory, stopped after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        config = pathlib.Path(tmp) / "cam.toml"
        config.write_text(config_text)
        s = CamServer(pathlib.Path(tmp) / "data", config)
        yield s
        s.stop()


@pytest.fixture(scope="module")
def cam_server():
    yield from serve_config(CONFIG, "tkms-cam-")


def kms_as(server, secret_id, secret_key, token=None):
    http = HttpProfile(endpoint=server.host, protocol="http")
    from tencentcloud.kms.v20190118 import kms_client
    return kms_client.KmsClient(credential.Credential(secret_id, secret_key, token), REGION,
                                ClientProfile(httpProfile=http))


def refused(fn, code):
    with pytest.raises(TencentCloudSDKException) as e:
        fn()
    assert e.value.get_code() == code, e.value
    return e.value


def row(server, request_id):
    rows = [r for r in server.audit() if r["request_id"] == request_id]
    assert len(rows) == 1, rows
    return rows[0]


def test_sub_user_allowed_only_encrypt_cannot_decrypt(cam_server):
    root = make_client(cam_server)
    key = create_key(root).KeyId
    enc = kms_as(cam_server, ENC_ID, ENC_KEY)
    encrypted = call(enc, "Encrypt", KeyId=key, Plaintext=PLAINTEXT)
    err = refused(lambda: call(enc, "Decrypt", CiphertextBlob=encrypted.CiphertextBlob),
                  "UnauthorizedOperation")
    assert "kms:Decrypt" in err.get_message() and f"uin/{UIN}:key/{key}" in err.get_message()
    # The root may decrypt what enc encrypted.
    assert call(root, "Decrypt", CiphertextBlob=encrypted.CiphertextBlob).Plaintext == PLAINTEXT

    ok = row(cam_server, encrypted.RequestId)
    assert (ok["identity"], ok["action"], ok["key_id"], ok["result"]) == ("enc", "Encrypt", key, "ok")
    denied = row(cam_server, err.get_request_id())
    assert (denied["identity"], denied["action"], denied["key_id"], denied["result"]) == \
        ("enc", "Decrypt", key, "UnauthorizedOperation")
    assert denied["account_uin"] == UIN and denied["source_ip"] == "127.0.0.1"


def test_denied_disable_key_leaves_key_enabled(cam_server):
    root = make_client(cam_server)
    key = create_key(root).KeyId
    ops = kms_as(cam_server, OPS_ID, OPS_KEY)
    err = refused(lambda: call(ops, "DisableKey", KeyId=key), "UnauthorizedOperation")
    assert call(root, "DescribeKey", KeyId=key).KeyMetadata.KeyState == "Enabled"
    assert call(ops, "DescribeKey", KeyId=key).KeyMetadata.KeyState == "Enabled"
    denied = row(cam_server, err.get_request_id())
    assert (denied["identity"], denied["action"], denied["key_id"], denied["result"]) == \
        ("ops", "DisableKey", key, "UnauthorizedOperation")
    # The trail is also readable with `tkms audit`, straight from the database.
    out = subprocess.run([cam_server.tkms, "audit", "--data-dir", str(cam_server.data_dir), "--action",
                          "DisableKey", "--result", "error", "--output", "jsonl"],
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert err.get_request_id() in [r["request_id"] for r in rows]
    assert all(r["result"] != "ok" and r["action"] == "DisableKey" for r in rows)


def test_role_token_stops_working_after_expiry(cam_server):
    root = make_client(cam_server)
    key = create_key(root).KeyId
    http = HttpProfile(endpoint=cam_server.host, protocol="http")
    sts = CommonClient("sts", "2018-08-13", credential.Credential(OPS_ID, OPS_KEY), REGION,
                       ClientProfile(httpProfile=http))
    answer = sts.call_json("AssumeRole", {
        "RoleArn": f"qcs::cam::uin/{UIN}:roleName/encryptor",
        "RoleSessionName": "pytest",
        "DurationSeconds": 900,
    })["Response"]
    creds = answer["Credentials"]
    now = cam_server.control("/_tkms/clock")["Now"]
    assert now < answer["ExpiredTime"] <= now + 901
    session = kms_as(cam_server, creds["TmpSecretId"], creds["TmpSecretKey"], creds["Token"])
    before = call(session, "Encrypt", KeyId=key, Plaintext=PLAINTEXT)
    # A sub-user may not assume a role that does not trust it.
    enc_sts = CommonClient("sts", "2018-08-13", credential.Credential(ENC_ID, ENC_KEY), REGION,
                           ClientProfile(httpProfile=http))
    refused(lambda: enc_sts.call_json("AssumeRole", {
        "RoleArn": f"qcs::cam::uin/{UIN}:roleName/encryptor", "RoleSessionName": "x"}),
        "UnauthorizedOperation")

    cam_server.advance(901)
    err = refused(lambda: call(session, "Encrypt", KeyId=key, Plaintext=PLAINTEXT),
                  "AuthFailure.TokenFailure")

    ok = row(cam_server, before.RequestId)
    assert (ok["identity"], ok["result"]) == ("role/encryptor/pytest", "ok")
    expired = row(cam_server, err.get_request_id())
    assert expired["result"] == "AuthFailure.TokenFailure"
    assumed = cam_server.audit(Action="sts:AssumeRole")
    assert [(r["identity"], r["result"]) for r in assumed] == \
        [("ops", "ok"), ("enc", "UnauthorizedOperation")]


def test_sighup_reloads_and_keeps_the_old_config_on_error():
    import signal

    with tempfile.TemporaryDirectory(prefix="tkms-cam-hup-") as tmp:
        config = pathlib.Path(tmp) / "cam.toml"
        config.write_text(CONFIG)
        s = CamServer(pathlib.Path(tmp) / "data", config)
        try:
            key = create_key(make_client(s)).KeyId
            enc = kms_as(s, ENC_ID, ENC_KEY)
            call(enc, "Encrypt", KeyId=key, Plaintext=PLAINTEXT)

            def reload_and_wait(text, outcome):
                config.write_text(text)
                s.proc.send_signal(signal.SIGHUP)
                # The reload runs on the server's own task: wait for the line that reports it.
                return s.wait_for_log("tkms serve: SIGHUP: " + outcome)

            # A broken file: refused, the old config keeps serving.
            line = reload_and_wait(CONFIG.replace('"kms:Encrypt"', '"kms:Encrypt","condition":{"bogus_op":{}}', 1),
                                   "kept the previous CAM config")
            assert "bogus_op" in line, line
            call(enc, "Encrypt", KeyId=key, Plaintext=PLAINTEXT)
            # A good file without enc's policy: Encrypt is refused from now on.
            reload_and_wait(CONFIG.replace('policies = ["encrypt-only"]\n\n[[users]]\nname = "ops"',
                                           'policies = []\n\n[[users]]\nname = "ops"', 1), "CAM config reloaded")
            refused(lambda: call(enc, "Encrypt", KeyId=key, Plaintext=PLAINTEXT), "UnauthorizedOperation")
            assert s.proc.poll() is None, "SIGHUP does not stop the server"
        finally:
            s.stop()
