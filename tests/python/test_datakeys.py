"""Hosted data keys with the official Python SDK against `tkms serve` (docs/serve.md, "Hosted
data keys"): every action, the state rules and codes, the deletion window on the test clock,
restart persistence, GetServiceStatus."""

import base64
import subprocess
import tempfile
import pathlib
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.kms.v20190118 import models

from conftest import call, create_key, make_client
from test_kms import _der, _der_int, b64, code_of

DAY = 86400


def name():
    return "dk-" + uuid.uuid4().hex[:16]


def hosted(kms, key_id, n=32, **fields):
    resp = call(kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=n, IsHostedByKms=1,
                DataKeyName=fields.pop("DataKeyName", name()), **fields)
    return resp.DataKeyId, base64.b64decode(resp.Plaintext), resp.CiphertextBlob


def plaintext(kms, data_key_id, **fields):
    return base64.b64decode(call(kms, "GetDataKeyPlaintext", DataKeyId=data_key_id, **fields).Plaintext)


def meta(kms, data_key_id):
    return call(kms, "DescribeDataKey", DataKeyId=data_key_id).DataKeyMetadata


def test_generate_describe_plaintext_and_blob(kms):
    key_id = create_key(kms).KeyId
    tag = models.Tag()
    tag.TagKey, tag.TagValue = "env", "prod"
    dk, data_key, blob = hosted(kms, key_id, 24, Description="orders", Tags=[tag])
    assert len(data_key) == 24
    assert plaintext(kms, dk) == data_key
    assert call(kms, "GetDataKeyCiphertextBlob", DataKeyId=dk).CiphertextBlob == blob
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == data_key
    m = meta(kms, dk)
    assert (m.KeyId, m.NumberOfBytes, m.KeyState, m.Origin, m.Description, m.Owner) == \
        (key_id, 24, "Enabled", "TENCENT_KMS", "orders", "user")
    assert m.ResourceId == f"creatorUin/{m.CreatorUin}/{dk}"
    many = call(kms, "DescribeDataKeys", DataKeyIds=[dk]).DataKeyMetadatas
    assert [x.DataKeyId for x in many] == [dk]


def test_import_both_types(kms):
    key_id = create_key(kms).KeyId
    resp = call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=b64(b"\x11" * 16), ImportType=2,
                KeyId=key_id)
    assert resp.KeyId == key_id
    assert plaintext(kms, resp.DataKeyId) == b"\x11" * 16
    assert meta(kms, resp.DataKeyId).Origin == "EXTERNAL"
    gen = call(kms, "GenerateDataKey", KeyId=key_id, KeySpec="AES_256")
    resp = call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=gen.CiphertextBlob, ImportType=1)
    assert resp.KeyId == key_id
    assert plaintext(kms, resp.DataKeyId) == base64.b64decode(gen.Plaintext)
    other = create_key(kms).KeyId
    assert code_of(lambda: call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=gen.CiphertextBlob,
                                ImportType=1, KeyId=other)) == "InvalidParameterValue.InvalidImportKeyMaterial"
    assert code_of(lambda: call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=b64(b"k"),
                                ImportType=2)) == "MissingParameter"
    assert code_of(lambda: call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=b64(b"k"),
                                ImportType=3, KeyId=key_id)) == "InvalidParameterValue.InvalidType"


@pytest.mark.parametrize("algorithm,pad", [
    ("RSAES_PKCS1_V1_5", padding.PKCS1v15()),
    ("RSAES_OAEP_SHA_1", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)),
    ("RSAES_OAEP_SHA_256", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)),
])
def test_plaintext_sealed_to_a_local_rsa_key(kms, algorithm, pad):
    key_id = create_key(kms).KeyId
    dk, data_key, _ = hosted(kms, key_id)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    sealed = plaintext(kms, dk, EncryptionPublicKey=pem, EncryptionAlgorithm=algorithm)
    assert sealed != data_key and len(sealed) == 256
    assert private.decrypt(sealed, pad) == data_key
    # An RSA key with the default (SM2) algorithm is refused, never answered in the clear.
    assert code_of(lambda: plaintext(kms, dk, EncryptionPublicKey=pem)) == "InvalidParameter"


def test_plaintext_sealed_to_a_local_sm2_key(kms):
    key_id = create_key(kms).KeyId
    dk, data_key, _ = hosted(kms, key_id)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2",
                        "-out", tmp / "sm2.pem"], check=True, capture_output=True)
        pem = subprocess.run(["openssl", "pkey", "-in", tmp / "sm2.pem", "-pubout"], check=True,
                             capture_output=True).stdout.decode()
        sealed = plaintext(kms, dk, EncryptionPublicKey=pem, EncryptionAlgorithm="SM2_C1C3C2_ASN1")
        (tmp / "sealed").write_bytes(sealed)
        opened = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", tmp / "sm2.pem", "-in", tmp / "sealed"],
                                check=True, capture_output=True).stdout
        assert opened == data_key
        raw = plaintext(kms, dk, EncryptionPublicKey=pem)  # default SM2: raw 04 || C1 || C3 || C2
        assert raw[0] == 4 and len(raw) == 65 + 32 + len(data_key)
        c1, c3, c2 = raw[1:65], raw[65:97], raw[97:]
        body = (_der_int(int.from_bytes(c1[:32], "big")) + _der_int(int.from_bytes(c1[32:], "big"))
                + _der(0x04, c3) + _der(0x04, c2))
        (tmp / "raw").write_bytes(_der(0x30, body))
        opened = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", tmp / "sm2.pem", "-in", tmp / "raw"],
                                check=True, capture_output=True).stdout
        assert opened == data_key


def test_list_filters_paging_and_order(kms):
    key_id = create_key(kms).KeyId
    tag = name()
    t = models.Tag()
    t.TagKey, t.TagValue = tag, "x"
    ids = [hosted(kms, key_id, 16, Tags=[t])[0] for _ in range(3)]
    call(kms, "DisableDataKey", DataKeyId=ids[1])
    f = models.TagFilter()
    f.TagKey, f.TagValue = tag, ["x"]

    def detail(**fields):
        r = call(kms, "ListDataKeyDetail", KeyId=key_id, **fields)
        return r.TotalCount, [m.DataKeyId for m in r.DataKeyMetadatas]

    assert detail(OrderType=1) == (3, ids)
    assert detail(OrderType=1, Limit=1, Offset=1) == (3, ids[1:2])
    assert detail(KeyState=2) == (1, [ids[1]])
    assert detail(KeyState=1, OrderType=1, TagFilters=[f]) == (2, [ids[0], ids[2]])
    assert detail(DataKeyLen=32) == (0, [])
    assert detail(Origin="EXTERNAL") == (0, [])
    listed = call(kms, "ListDataKeys", Limit=200)
    assert set(ids) <= {k.DataKeyId for k in listed.DataKeys}
    assert code_of(lambda: call(kms, "ListDataKeyDetail", KeyState=9)) == "InvalidParameter"


def test_states_updates_and_codes(kms):
    key_id = create_key(kms).KeyId
    dk, data_key, _ = hosted(kms, key_id)
    call(kms, "UpdateDataKeyName", DataKeyId=dk, DataKeyName=name())
    call(kms, "UpdateDataKeyDescription", DataKeyId=dk, Description="new")
    assert meta(kms, dk).Description == "new"
    call(kms, "DisableDataKeys", DataKeyIds=[dk])
    assert code_of(lambda: plaintext(kms, dk)) == "ResourceUnavailable.DataKeyDisabled"
    assert code_of(lambda: call(kms, "GetDataKeyCiphertextBlob", DataKeyId=dk)) == \
        "ResourceUnavailable.DataKeyStateNotSupport"
    call(kms, "EnableDataKeys", DataKeyIds=[dk])
    assert code_of(lambda: call(kms, "ScheduleDataKeyDeletion", DataKeyId=dk, PendingWindowInDays=7)) == \
        "ResourceUnavailable.DataKeyStateNotSupport"
    call(kms, "DisableDataKey", DataKeyId=dk)
    assert code_of(lambda: call(kms, "ScheduleDataKeyDeletion", DataKeyId=dk, PendingWindowInDays=5)) == \
        "InvalidParameter.InvalidPendingWindowInDays"
    call(kms, "ScheduleDataKeyDeletion", DataKeyId=dk, PendingWindowInDays=7)
    assert code_of(lambda: plaintext(kms, dk)) == "ResourceUnavailable.DataKeyPendingDelete"
    assert code_of(lambda: call(kms, "EnableDataKey", DataKeyId=dk)) == "ResourceUnavailable.DataKeyStateNotSupport"
    assert call(kms, "CancelDataKeyDeletion", DataKeyId=dk).DataKeyId == dk
    assert code_of(lambda: call(kms, "CancelDataKeyDeletion", DataKeyId=dk)) == \
        "ResourceUnavailable.DataKeyNotPendingDelete"
    call(kms, "EnableDataKey", DataKeyId=dk)
    assert plaintext(kms, dk) == data_key
    taken = name()
    hosted(kms, key_id, DataKeyName=taken)
    assert code_of(lambda: hosted(kms, key_id, DataKeyName=taken)) == "InvalidParameterValue.DataKeyNameAlreadyExists"
    assert code_of(lambda: call(kms, "UpdateDataKeyName", DataKeyId=dk, DataKeyName=taken)) == \
        "InvalidParameterValue.DataKeyNameAlreadyExists"
    assert code_of(lambda: hosted(kms, key_id, DataKeyName="bad name")) == "InvalidParameterValue.InvalidDataKeyName"
    assert code_of(lambda: meta(kms, "nope")) == "InvalidParameterValue.InvalidDataKeyId"
    assert code_of(lambda: meta(kms, str(uuid.uuid4()))) == "ResourceUnavailable.DataKeyNotFound"
    assert code_of(lambda: call(kms, "DescribeDataKeys", DataKeyIds=[dk, dk])) == \
        "InvalidParameterValue.DuplicatedDataKeyId"


def test_a_data_key_follows_its_cmk(kms):
    key_id = create_key(kms).KeyId
    dk, data_key, _ = hosted(kms, key_id)
    call(kms, "DisableKey", KeyId=key_id)
    assert code_of(lambda: plaintext(kms, dk)) == "ResourceUnavailable.CmkDisabled"
    call(kms, "EnableKey", KeyId=key_id)
    call(kms, "ArchiveKey", KeyId=key_id)
    assert code_of(lambda: plaintext(kms, dk)) == "ResourceUnavailable.CmkArchived"
    call(kms, "CancelKeyArchive", KeyId=key_id)
    assert plaintext(kms, dk) == data_key
    call(kms, "DisableKey", KeyId=key_id)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    assert code_of(lambda: plaintext(kms, dk)) == "ResourceUnavailable.CmkStateNotSupport"


def test_deletion_window_on_the_test_clock_and_restart(server, kms):
    key_id = create_key(kms).KeyId
    keep, kept_key, _ = hosted(kms, key_id)
    gone, _, _ = hosted(kms, key_id)
    call(kms, "DisableDataKey", DataKeyId=gone)
    date = call(kms, "ScheduleDataKeyDeletion", DataKeyId=gone, PendingWindowInDays=7).DeletionDate
    assert meta(kms, gone).DeletionDate == date
    used = call(kms, "GetServiceStatus").DataKeyUsedCount
    server.advance(7 * DAY - 10)
    assert meta(kms, gone).KeyState == "PendingDelete"
    server.advance(10)
    assert code_of(lambda: meta(kms, gone)) == "ResourceUnavailable.DataKeyNotFound"
    status = call(kms, "GetServiceStatus")
    assert status.IsAllowedDataKeyHosted is True
    assert status.DataKeyUsedCount == used - 1
    assert status.DataKeyLimit >= status.DataKeyUsedCount
    server.restart()
    kms = make_client(server)  # the restarted server listens on a new port
    assert plaintext(kms, keep) == kept_key
    assert code_of(lambda: meta(kms, gone)) == "ResourceUnavailable.DataKeyNotFound"


# ---- CAM and the audit trail (docs/cam.md: a data-key call is judged on its data key's CMK) ----

DK_ID, DK_KEY = "AKIDCAMDATAKEYUSER000000000000000000", "camdatakeyusersecret000000000000"


def cam_config(uin, region):
    allow = ('{"effect":"allow","action":["kms:GenerateDataKey","kms:*DataKey*"],'
             f'"resource":"qcs::kms:{region}:uin/{uin}:key/*"}}')
    deny = ('{"effect":"deny","action":["kms:GetDataKeyPlaintext","kms:ScheduleDataKeyDeletion"],"resource":"*",'
            '"condition":{"string_equal":{"qcs:resource_tag/guard":"locked"}}}')
    return f"""
[policies]
datakeys = '{{"version":"2.0","statement":[{allow},{deny}]}}'

[[accounts]]
uin = {uin}

[[users]]
name = "dk"
account = {uin}
kind = "sub_user"
secret_id = "{DK_ID}"
secret_key = "{DK_KEY}"
policies = ["datakeys"]
"""


@pytest.fixture(scope="module")
def dk_cam_server():
    from conftest import REGION
    from test_cam import UIN, CamServer
    with tempfile.TemporaryDirectory(prefix="tkms-dk-cam-") as tmp:
        config = pathlib.Path(tmp) / "cam.toml"
        config.write_text(cam_config(UIN, REGION))
        s = CamServer(pathlib.Path(tmp) / "data", config)
        yield s
        s.stop()


def test_cam_allows_and_denies_by_the_cmk_and_audits_every_call(dk_cam_server):
    from test_cam import kms_as, row
    root = make_client(dk_cam_server)
    guard = models.Tag()
    guard.TagKey, guard.TagValue = "guard", "locked"
    locked = create_key(root, Tags=[guard]).KeyId
    open_key = create_key(root).KeyId
    user = kms_as(dk_cam_server, DK_ID, DK_KEY)
    dk_locked, _, _ = hosted(user, locked)
    dk_open, data_key, _ = hosted(user, open_key)
    assert plaintext(user, dk_open) == data_key
    described = call(user, "DescribeDataKey", DataKeyId=dk_locked)
    with pytest.raises(TencentCloudSDKException) as e:
        plaintext(user, dk_locked)
    assert e.value.get_code() == "UnauthorizedOperation"
    assert f"key/{locked}" in e.value.get_message()
    call(user, "DisableDataKey", DataKeyId=dk_locked)
    with pytest.raises(TencentCloudSDKException) as e2:
        call(user, "ScheduleDataKeyDeletion", DataKeyId=dk_locked, PendingWindowInDays=7)
    assert e2.value.get_code() == "UnauthorizedOperation"
    assert meta(root, dk_locked).KeyState == "Disabled", "a denied call changes nothing"
    # The root of the account may do everything.
    call(root, "EnableDataKey", DataKeyId=dk_locked)
    assert len(plaintext(root, dk_locked)) == 32
    # Every call is in the trail with its action, its CMK and its result.
    assert (row(dk_cam_server, described.RequestId)["action"], row(dk_cam_server, described.RequestId)["key_id"]) \
        == ("DescribeDataKey", locked)
    denied = row(dk_cam_server, e.value.get_request_id())
    assert (denied["identity"], denied["action"], denied["key_id"], denied["result"]) == \
        ("dk", "GetDataKeyPlaintext", locked, "UnauthorizedOperation")
    assert row(dk_cam_server, e2.value.get_request_id())["action"] == "ScheduleDataKeyDeletion"
    actions = {r["action"] for r in dk_cam_server.audit(Identity="dk")}
    assert {"GenerateDataKey", "GetDataKeyPlaintext", "DescribeDataKey", "DisableDataKey",
            "ScheduleDataKeyDeletion"} <= actions
    # A failed call is recorded with its code.
    with pytest.raises(TencentCloudSDKException) as e3:
        meta(user, str(uuid.uuid4()))
    assert row(dk_cam_server, e3.value.get_request_id())["result"] == "ResourceUnavailable.DataKeyNotFound"


def test_limit_exceeded_past_data_key_limit(monkeypatch):
    import os
    from conftest import REPO, Server
    base = os.environ.get("TKMS_SERVE_CMD", str(REPO / "target/debug/tkms") + " serve")
    monkeypatch.setenv("TKMS_SERVE_CMD", base + " --data-key-limit 2")
    with tempfile.TemporaryDirectory(prefix="tkms-dk-limit-") as tmp:
        server = Server(pathlib.Path(tmp))
        try:
            kms = make_client(server)
            key_id = create_key(kms).KeyId
            hosted(kms, key_id)
            hosted(kms, key_id)
            status = call(kms, "GetServiceStatus")
            assert (status.DataKeyLimit, status.DataKeyUsedCount) == (2, 2)
            assert code_of(lambda: hosted(kms, key_id)) == "LimitExceeded.DataKeyLimitExceeded"
            assert code_of(lambda: call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=b64(b"k" * 16),
                                        ImportType=2, KeyId=key_id)) == "LimitExceeded.DataKeyLimitExceeded"
        finally:
            server.stop()
