"""BindCloudResource / UnbindCloudResource with the official SDK and tccli (docs/kms-api.md §4.7)."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import REGION, SECRET_ID, SECRET_KEY, call, create_key, make_client

USED = "FailedOperation.CmkUsedByCloudProduct"


def code_of(fn, *args, **kwargs):
    with pytest.raises(TencentCloudSDKException) as e:
        fn(*args, **kwargs)
    return e.value.get_code()


def test_bound_key_refuses_disable_archive_and_deletion(kms):
    key_id = create_key(kms).KeyId
    other = create_key(kms).KeyId
    resp = call(kms, "BindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-py1")
    assert resp.RequestId
    call(kms, "BindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-py1")  # idempotent
    assert code_of(call, kms, "DisableKey", KeyId=key_id) == USED
    assert code_of(call, kms, "DisableKeys", KeyIds=[other, key_id]) == USED
    assert code_of(call, kms, "ArchiveKey", KeyId=key_id) == USED
    assert code_of(call, kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7) == USED
    states = call(kms, "DescribeKeys", KeyIds=[key_id, other]).KeyMetadatas
    assert [m.KeyState for m in states] == ["Enabled", "Enabled"], "DisableKeys is all or nothing"
    assert code_of(call, kms, "BindCloudResource", KeyId=other, ProductId="cdb",
                   ResourceId="cdb-py1") == USED

    call(kms, "UnbindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-py1")
    assert code_of(call, kms, "UnbindCloudResource", KeyId=key_id, ProductId="cdb",
                   ResourceId="cdb-py1") == "ResourceUnavailable.CloudResourceBindingNotFound"
    call(kms, "DisableKeys", KeyIds=[other, key_id])
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)


def test_bindings_survive_a_restart(server, kms):
    key_id = create_key(kms).KeyId
    call(kms, "BindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-restart")
    server.restart()
    kms = make_client(server)
    assert code_of(call, kms, "DisableKey", KeyId=key_id) == USED
    call(kms, "UnbindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-restart")
    call(kms, "DisableKey", KeyId=key_id)


def test_tccli_binds_and_unbinds(server, kms):
    tccli = shutil.which("tccli")
    assert tccli, "tccli is installed by scripts/python-conformance.sh"
    key_id = create_key(kms).KeyId

    def run(*args):
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, HOME=home, TENCENTCLOUD_SECRET_ID=SECRET_ID,
                       TENCENTCLOUD_SECRET_KEY=SECRET_KEY, TENCENTCLOUD_REGION=REGION)
            return subprocess.run([tccli, "kms", *args, "--endpoint", server.endpoint], env=env,
                                  capture_output=True, text=True, timeout=60)

    out = run("BindCloudResource", "--KeyId", key_id, "--ProductId", "cdb", "--ResourceId", "cdb-cli")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["RequestId"]
    out = run("DisableKey", "--KeyId", key_id)
    assert out.returncode == 255 and f"code:{USED}" in out.stderr
    out = run("UnbindCloudResource", "--KeyId", key_id, "--ProductId", "cdb", "--ResourceId", "cdb-cli")
    assert out.returncode == 0, out.stderr


BIND_ID, BIND_KEY = "AKIDCAMBINDINGAPP0000000000000000000", "cambindingappsecret0000000000000"


@pytest.fixture(scope="module")
def cam_server():
    from test_cam import UIN, serve_config
    config = f"""
[policies]
bind-only = '{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:BindCloudResource"],"resource":"qcs::kms:ap-guangzhou:uin/{UIN}:key/*"}}]}}'

[[accounts]]
uin = {UIN}

[[users]]
name = "binder"
account = {UIN}
kind = "sub_user"
secret_id = "{BIND_ID}"
secret_key = "{BIND_KEY}"
policies = ["bind-only"]
"""
    yield from serve_config(config, "tkms-bindings-cam-")


def test_cam_decides_bindings_and_every_call_is_audited(cam_server):
    from test_cam import kms_as, row
    root = make_client(cam_server)
    key_id = create_key(root).KeyId
    binder = kms_as(cam_server, BIND_ID, BIND_KEY)
    bound = call(binder, "BindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-cam")
    with pytest.raises(TencentCloudSDKException) as e:
        call(binder, "UnbindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-cam")
    assert e.value.get_code() == "UnauthorizedOperation"
    denied = e.value.get_request_id()
    assert code_of(call, root, "DisableKey", KeyId=key_id) == USED, "the denied unbind changed nothing"
    r = row(cam_server, bound.RequestId)
    assert (r["action"], r["key_id"], r["result"]) == ("BindCloudResource", key_id, "ok")
    r = row(cam_server, denied)
    assert (r["action"], r["key_id"], r["result"]) == ("UnbindCloudResource", key_id, "UnauthorizedOperation")
    unbound = call(root, "UnbindCloudResource", KeyId=key_id, ProductId="cdb", ResourceId="cdb-cam")
    assert row(cam_server, unbound.RequestId)["result"] == "ok"
