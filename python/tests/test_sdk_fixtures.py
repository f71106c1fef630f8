"""The pytest fixtures with the official Tencent Cloud SDK: key lifecycle, Encrypt/Decrypt,
rotation by advancing the mock clock, a CAM config, and the audit rows of all of it."""

import base64

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client, models

from tkms.testing import KmsServer

DAY = 86400


def call(client, action, **params):
    request = getattr(models, f"{action}Request")()
    for name, value in params.items():
        setattr(request, name, value)
    return getattr(client, action)(request)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_key_lifecycle(tkms_kms_client, tkms_server):
    key_id = call(tkms_kms_client, "CreateKey", Alias="orders").KeyId
    assert call(tkms_kms_client, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Enabled"
    call(tkms_kms_client, "DisableKey", KeyId=key_id)
    assert call(tkms_kms_client, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Disabled"
    with pytest.raises(TencentCloudSDKException) as refused:
        call(tkms_kms_client, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
    assert refused.value.get_code() == "ResourceUnavailable.CmkDisabled"
    call(tkms_kms_client, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    assert call(tkms_kms_client, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "PendingDelete"
    tkms_server.advance_clock(8 * DAY)
    with pytest.raises(TencentCloudSDKException) as gone:
        call(tkms_kms_client, "DescribeKey", KeyId=key_id)
    assert gone.value.get_code() == "ResourceUnavailable.CmkNotFound"


def test_encrypt_decrypt(tkms_kms_client):
    key_id = call(tkms_kms_client, "CreateKey", Alias="app").KeyId
    sealed = call(tkms_kms_client, "Encrypt", KeyId=key_id, Plaintext=b64(b"hello"))
    opened = call(tkms_kms_client, "Decrypt", CiphertextBlob=sealed.CiphertextBlob)
    assert (opened.KeyId, base64.b64decode(opened.Plaintext)) == (key_id, b"hello")
    data_key = call(tkms_kms_client, "GenerateDataKey", KeyId=key_id, KeySpec="AES_256")
    again = call(tkms_kms_client, "Decrypt", CiphertextBlob=data_key.CiphertextBlob)
    assert again.Plaintext == data_key.Plaintext


def test_rotation_by_advancing_the_clock(tkms_kms_client, tkms_server):
    key_id = call(tkms_kms_client, "CreateKey", Alias="rotating").KeyId
    call(tkms_kms_client, "EnableKeyRotation", KeyId=key_id, RotateDays=7)
    before = call(tkms_kms_client, "DescribeKey", KeyId=key_id).KeyMetadata
    old_blob = call(tkms_kms_client, "Encrypt", KeyId=key_id, Plaintext=b64(b"old")).CiphertextBlob
    start = tkms_server.now()
    assert tkms_server.advance_clock(8 * DAY) == start + 8 * DAY
    assert tkms_server.now() == start + 8 * DAY
    after = call(tkms_kms_client, "DescribeKey", KeyId=key_id).KeyMetadata
    assert after.LastRotateTime > before.LastRotateTime
    assert after.NextRotateTime > before.NextRotateTime
    assert base64.b64decode(call(tkms_kms_client, "Decrypt", CiphertextBlob=old_blob).Plaintext) == b"old"
    moved = call(tkms_kms_client, "ReEncrypt", CiphertextBlob=old_blob)
    assert moved.ReEncrypted is True


def test_reset_forgets_keys(tkms_kms_client, tkms_server):
    call(tkms_kms_client, "CreateKey", Alias="short-lived")
    assert call(tkms_kms_client, "ListKeys").TotalCount == 1
    tkms_server.reset()
    assert call(tkms_kms_client, "ListKeys").TotalCount == 0


def test_audit_rows(tkms_kms_client, tkms_server):
    created = call(tkms_kms_client, "CreateKey", Alias="audited")
    sealed = call(tkms_kms_client, "Encrypt", KeyId=created.KeyId, Plaintext=b64(b"x"))
    with pytest.raises(TencentCloudSDKException) as refused:
        call(tkms_kms_client, "DescribeKey", KeyId="00000000-0000-0000-0000-000000000000")
    rows = tkms_server.audit()
    ok = [r for r in rows if r["request_id"] == created.RequestId]
    assert len(ok) == 1
    assert (ok[0]["action"], ok[0]["result"], ok[0]["identity"]) == ("CreateKey", "ok", "root")
    assert ok[0]["source_ip"] == "127.0.0.1" and ok[0]["region"] == tkms_server.region
    failed = tkms_server.audit(result="error")
    assert [(r["action"], r["result"], r["request_id"]) for r in failed] == [
        ("DescribeKey", "ResourceUnavailable.CmkNotFound", refused.value.get_request_id())
    ]
    assert [r["action"] for r in tkms_server.audit(action="CreateKey")] == ["CreateKey"]
    assert [r["request_id"] for r in tkms_server.audit(key_id=created.KeyId)] == [sealed.RequestId]
    with pytest.raises(TypeError):
        tkms_server.audit(colour="red")


UIN = 100000000001
ENC_ID, ENC_KEY = "AKIDPYTKMSENCRYPTONLY00000000000000", "pytkmsencryptonlysecret000000000"
CAM_CONFIG = f"""
[policies]
encrypt-only = '{{"version":"2.0","statement":[{{"effect":"allow","action":"kms:Encrypt","resource":"*"}}]}}'

[[accounts]]
uin = {UIN}

[[users]]
name = "enc"
account = {UIN}
kind = "sub_user"
secret_id = "{ENC_ID}"
secret_key = "{ENC_KEY}"
policies = ["encrypt-only"]
"""


def client_for(server, secret_id, secret_key, region=None):
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=server.host, protocol="http", reqTimeout=30))
    cred = credential.Credential(secret_id, secret_key)
    return kms_client.KmsClient(cred, region or server.region, profile)


def test_cam_config(tmp_path):
    config = tmp_path / "cam.toml"
    config.write_text(CAM_CONFIG)
    with KmsServer(config=config, region="ap-shanghai") as server:
        assert server.region == "ap-shanghai"
        root = client_for(server, server.secret_id, server.secret_key)
        key_id = call(root, "CreateKey", Alias="cam").KeyId
        enc = client_for(server, ENC_ID, ENC_KEY)
        sealed = call(enc, "Encrypt", KeyId=key_id, Plaintext=b64(b"cam"))
        with pytest.raises(TencentCloudSDKException) as denied:
            call(enc, "Decrypt", CiphertextBlob=sealed.CiphertextBlob)
        assert denied.value.get_code() == "UnauthorizedOperation"
        assert base64.b64decode(call(root, "Decrypt", CiphertextBlob=sealed.CiphertextBlob).Plaintext) == b"cam"
        rows = server.audit(identity="enc")
        assert [(r["action"], r["result"], r["account_uin"], r["region"]) for r in rows] == [
            ("Encrypt", "ok", UIN, "ap-shanghai"),
            ("Decrypt", "UnauthorizedOperation", UIN, "ap-shanghai"),
        ]


def test_bad_cam_config_fails_at_start(tmp_path):
    config = tmp_path / "cam.toml"
    config.write_text("[[users]]\nname = 'x'\nunknown_field = 1\n")
    with pytest.raises(RuntimeError, match="cannot start"):
        KmsServer(config=config)


def test_data_dir_and_seed_persist_keys(tmp_path):
    seed = tmp_path / "seed.toml"
    seed.write_text('version = 1\n[[keys]]\nkey_id = "00000000-0000-4000-8000-000000000001"\nalias = "seeded"\n')
    store = tmp_path / "store"
    with KmsServer(data_dir=store, seed=seed) as first:
        listed = call(client_for(first, first.secret_id, first.secret_key), "ListKeyDetail").KeyMetadatas
        assert [(k.Alias, k.KeyId) for k in listed] == [("seeded", "00000000-0000-4000-8000-000000000001")]
        key_id = listed[0].KeyId
    assert (store.stat().st_mode & 0o777) == 0o700
    with KmsServer(data_dir=store) as second:
        described = call(client_for(second, second.secret_id, second.secret_key), "DescribeKey", KeyId=key_id)
        assert described.KeyMetadata.Alias == "seeded"


def test_session_server_is_shared(tkms_server_session, request):
    assert tkms_server_session.running
    assert request.getfixturevalue("tkms_server_session") is tkms_server_session


def test_regions_beyond_the_built_in_list():
    with KmsServer(regions=["ap-newcity"]) as server:
        def in_region(region):
            return client_for(server, server.secret_id, server.secret_key, region)

        listed = call(in_region("ap-newcity"), "GetRegions").Regions
        assert "ap-newcity" in listed and "ap-guangzhou" in listed
        assert call(in_region("ap-newcity"), "CreateKey", Alias="new").KeyId
        with pytest.raises(TencentCloudSDKException) as refused:
            call(in_region("ap-guangzou"), "ListKeys")
        assert refused.value.get_code() == "UnsupportedRegion"
    with pytest.raises(RuntimeError, match="not a region name"):
        KmsServer(regions=["Not A Region"])
    with pytest.raises(TypeError):
        KmsServer(regions="ap-newcity")
