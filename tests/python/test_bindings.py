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
