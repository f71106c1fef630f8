"""The wire protocol as the official Python SDK and tccli speak it (docs/kms-api.md §1, §6)."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client, models

from conftest import REGION, SECRET_ID, SECRET_KEY, call, create_key, make_client


def random_bytes(kms, n=32):
    resp = call(kms, "GenerateRandom", NumberOfBytes=n)
    assert uuid.UUID(resp.RequestId)
    return base64.b64decode(resp.Plaintext, validate=True)


def error_code(fn):
    with pytest.raises(TencentCloudSDKException) as e:
        fn()
    assert e.value.get_request_id(), "errors carry the RequestId"
    return e.value.get_code()


def test_post_json_round_trip(kms):
    a, b = random_bytes(kms), random_bytes(kms)
    assert len(a) == 32 and a != b


def test_get_method_flattens_lists_and_numbers(server):
    post = make_client(server)
    ids = [create_key(post).KeyId for _ in range(2)]
    get = make_client(server, reqMethod="GET")
    resp = call(get, "DescribeKeys", KeyIds=ids)
    assert sorted(m.KeyId for m in resp.KeyMetadatas) == sorted(ids)
    listed = call(get, "ListKeys", Offset=0, Limit=200)
    assert isinstance(listed.TotalCount, int) and listed.TotalCount >= 2
    assert len(random_bytes(get, 16)) == 16


@pytest.mark.parametrize("method", ["HmacSHA1", "HmacSHA256"])
@pytest.mark.parametrize("req_method", ["GET", "POST"])
def test_legacy_signature_methods(server, method, req_method):
    kms = make_client(server, signMethod=method, reqMethod=req_method)
    assert len(random_bytes(kms, 24)) == 24


def test_endpoint_with_scheme_signs_the_scheme(server):
    http = HttpProfile(endpoint=server.endpoint)  # Host: http://127.0.0.1:PORT
    kms = kms_client.KmsClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION, ClientProfile(httpProfile=http))
    assert len(random_bytes(kms)) == 32


def test_unsigned_payload_no_region_and_english(server):
    cp = ClientProfile(httpProfile=HttpProfile(endpoint=server.host, protocol="http"), language="en-US")
    cp.unsignedPayload = True
    kms = kms_client.KmsClient(credential.Credential(SECRET_ID, SECRET_KEY), "", cp)
    assert len(random_bytes(kms)) == 32


def test_wrong_secret_key(server):
    kms = make_client(server, secret_key="wrongwrongwrongwrongwrongwrong00")
    assert error_code(lambda: random_bytes(kms)) == "AuthFailure.SignatureFailure"


def test_unknown_secret_id(server):
    kms = make_client(server, secret_id="AKIDnobody000000000000000000000000000")
    assert error_code(lambda: random_bytes(kms)) == "AuthFailure.SecretIdNotFound"


def test_expired_timestamp(server, monkeypatch):
    kms = make_client(server)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)
    assert error_code(lambda: random_bytes(kms)) == "AuthFailure.SignatureExpire"


def test_unknown_action_and_version(server):
    cp = ClientProfile(httpProfile=HttpProfile(endpoint=server.host, protocol="http"))
    cred = credential.Credential(SECRET_ID, SECRET_KEY)
    common = CommonClient("kms", "2019-01-18", cred, REGION, profile=cp)
    assert error_code(lambda: common.call_json("NoSuchAction", {})) == "InvalidAction"
    old = CommonClient("kms", "2017-03-12", cred, REGION, profile=cp)
    assert error_code(lambda: old.call_json("GenerateRandom", {"NumberOfBytes": 8})) == "NoSuchVersion"
    assert common.call_json("GenerateRandom", {"NumberOfBytes": 8})["Response"]["Plaintext"]


def test_errors_are_http_200_with_exact_content_type(server):
    req = urllib.request.Request(server.endpoint + "/", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json", "X-TC-Action": "Encrypt"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/json"
        body = json.loads(r.read())
    assert body["Response"]["Error"]["Code"] == "AuthFailure"  # unsigned: the bare code
    assert body["Response"]["Error"]["Message"]
    assert uuid.UUID(body["Response"]["RequestId"])
    with urllib.request.urlopen(server.endpoint + "/no/such/page", timeout=5) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        assert "Error" in json.loads(r.read())["Response"]


# --- tccli (`--endpoint http://...`, credentials from the environment) ---

TCCLI = shutil.which("tccli")


def tccli(server, *args):
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY,
                   TENCENTCLOUD_REGION=REGION)
        return subprocess.run([TCCLI, "kms", *args, "--endpoint", server.endpoint], env=env,
                              capture_output=True, text=True, timeout=60)


def test_tccli_encrypt_decrypt_and_errors(server, kms):
    assert TCCLI, "tccli is installed by scripts/python-conformance.sh"
    key_id = create_key(kms).KeyId
    out = tccli(server, "Encrypt", "--KeyId", key_id, "--Plaintext", "aGVsbG8=",
                "--EncryptionContext", '{"purpose":"test"}')
    assert out.returncode == 0, out.stderr
    blob = json.loads(out.stdout)["CiphertextBlob"]
    out = tccli(server, "Decrypt", "--CiphertextBlob", blob, "--EncryptionContext", '{"purpose":"test"}')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Plaintext"] == "aGVsbG8="
    out = tccli(server, "ListKeys", "--Offset", "0", "--Limit", "5")
    assert out.returncode == 0 and json.loads(out.stdout)["TotalCount"] >= 1
    call(kms, "DisableKey", KeyId=key_id)
    out = tccli(server, "Encrypt", "--KeyId", key_id, "--Plaintext", "aGVsbG8=")
    assert out.returncode == 255
    assert "code:ResourceUnavailable.CmkDisabled" in out.stderr and out.stdout == ""
