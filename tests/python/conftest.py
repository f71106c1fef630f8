"""Fixtures for the conformance suite: a `tkms serve` process, SDK clients pointed at it.

The server is started with `TKMS_SERVE_CMD` (default: `<repo>/target/debug/tkms serve`) plus
`--listen 127.0.0.1:0 --test-controls --data-dir <tmp>`, and the root credentials below in
TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY. Only the endpoint of the official SDK
changes: `HttpProfile(endpoint=..., protocol="http")`.
"""

import json
import os
import pathlib
import shlex
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client, models

REPO = pathlib.Path(__file__).resolve().parents[2]
SECRET_ID = "AKIDTKMSCONFORMANCE000000000000000000"
SECRET_KEY = "tkmsconformancesecretkey00000000"
REGION = "ap-guangzhou"


class Server:
    """One `tkms serve` process over a data directory that outlives restarts."""

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.proc = None
        self.host = None
        self.start()

    def start(self):
        cmd = shlex.split(os.environ.get("TKMS_SERVE_CMD", str(REPO / "target/debug/tkms") + " serve"))
        cmd += ["--listen", "127.0.0.1:0", "--test-controls", "--data-dir", str(self.data_dir), *self.extra_args]
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on http://"), f"unexpected first line from {cmd}: {line!r}"
        self.host = line[len("listening on http://"):]
        self.endpoint = "http://" + self.host
        with urllib.request.urlopen(self.endpoint + "/healthz", timeout=5) as r:
            assert r.status == 200

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: graceful
            assert self.proc.wait(timeout=20) == 0, "tkms serve exits 0 on SIGTERM"
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def advance(self, seconds):
        return self.control("/_tkms/clock", {"Advance": seconds})


@pytest.fixture(scope="session")
def server():
    with tempfile.TemporaryDirectory(prefix="tkms-conformance-") as data_dir:
        s = Server(pathlib.Path(data_dir))
        yield s
        s.stop()


def make_client(server, secret_id=SECRET_ID, secret_key=SECRET_KEY, region=REGION, **profile):
    http = HttpProfile(endpoint=server.host, protocol="http", reqMethod=profile.pop("reqMethod", "POST"))
    cp = ClientProfile(httpProfile=http, **profile)
    return kms_client.KmsClient(credential.Credential(secret_id, secret_key), region, cp)


@pytest.fixture
def kms(server):
    return make_client(server)


def new_alias(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def create_key(kms, usage=None, **fields):
    req = models.CreateKeyRequest()
    req.Alias = new_alias()
    if usage:
        req.KeyUsage = usage
    for k, v in fields.items():
        setattr(req, k, v)
    return kms.CreateKey(req)


def call(kms, action, **fields):
    req = getattr(models, action + "Request")()
    for k, v in fields.items():
        setattr(req, k, v)
    return getattr(kms, action)(req)


def now():
    return int(time.time())
