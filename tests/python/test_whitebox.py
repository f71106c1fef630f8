"""White-box keys through the official SDK (docs/whitebox.md): every action on the happy path,
each limit and error code, restart persistence, CAM allow/deny and audit rows. EncryptByWhiteBox
output is decrypted with the DecryptKey the mock handed out by independent implementations:
`cryptography` for AES-256-CBC, gmssl for SM4-CBC."""

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl.sm4 import SM4_DECRYPT, SM4_ENCRYPT, CryptSM4
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.kms.v20190118 import models

from conftest import call, make_client, new_alias
from test_cam import UIN, kms_as, row, serve_config
from test_protocol import TCCLI, tccli

FP = "0123abcd-0123456789abcd-0123456789abcd-0123456789abcd-0123456789abcdef"
UNKNOWN = "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e"


def b64(data):
    return base64.b64encode(data).decode()


def fails(code, fn, *args, **kwargs):
    with pytest.raises(TencentCloudSDKException) as e:
        fn(*args, **kwargs)
    assert e.value.get_code() == code, e.value
    return e.value


def create(kms, algorithm="AES_256", **fields):
    return call(kms, "CreateWhiteBoxKey", Alias=new_alias("wb"), Algorithm=algorithm, **fields)


def tag(key, value):
    t = models.Tag()
    t.TagKey, t.TagValue = key, value
    return t


def fingerprint(i, description=""):
    f = models.DeviceFingerprint()
    f.Identity = FP[:-16] + f"{i:016x}"
    f.Description = description
    return f


def raw_key(encoded, role, algorithm):
    """The key inside an encoded EncryptKey/DecryptKey, after checking the documented header."""
    data = base64.b64decode(encoded)
    assert data[:8] == b"TKWB" + bytes([1, ord(role), algorithm, 1]), data[:8]
    return data[8:]


def aes_cbc(key, iv):
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def aes_decrypt(key, iv, ciphertext):
    d = aes_cbc(key, iv).decryptor()
    padded = d.update(ciphertext) + d.finalize()
    u = padding.PKCS7(128).unpadder()  # raises on bad padding
    return u.update(padded) + u.finalize()


def aes_encrypt(key, iv, plaintext):
    p = padding.PKCS7(128).padder()
    e = aes_cbc(key, iv).encryptor()
    return e.update(p.update(plaintext) + p.finalize()) + e.finalize()


def sm4_cbc(key, iv, data, mode):
    c = CryptSM4()
    c.set_key(key, mode)
    return c.crypt_cbc(iv, data)


@pytest.mark.parametrize("algorithm", ["AES_256", "SM4"])
def test_encrypt_by_whitebox_decrypts_with_the_decrypt_key(kms, algorithm):
    created = create(kms, algorithm)
    code, length = (1, 32) if algorithm == "AES_256" else (2, 16)
    key = raw_key(created.DecryptKey, "D", code)
    assert len(key) == length
    assert raw_key(created.EncryptKey, "E", code) == key
    assert call(kms, "DescribeWhiteBoxDecryptKey", KeyId=created.KeyId).DecryptKey == created.DecryptKey

    for plaintext in [b"a", bytes(range(16)), os.urandom(4096)]:
        iv = os.urandom(16)
        out = call(kms, "EncryptByWhiteBox", KeyId=created.KeyId, PlainText=b64(plaintext),
                   InitializationVector=b64(iv))
        assert out.InitializationVector == b64(iv)
        ciphertext = base64.b64decode(out.CipherText)
        if algorithm == "AES_256":
            assert aes_decrypt(key, iv, ciphertext) == plaintext
            assert aes_encrypt(key, iv, plaintext) == ciphertext
        else:
            assert sm4_cbc(key, iv, ciphertext, SM4_DECRYPT) == plaintext
            assert sm4_cbc(key, iv, plaintext, SM4_ENCRYPT) == ciphertext

    # Without an IV the mock generates one and returns it.
    out = call(kms, "EncryptByWhiteBox", KeyId=created.KeyId, PlainText=b64(b"generated iv"))
    iv = base64.b64decode(out.InitializationVector)
    assert len(iv) == 16
    ciphertext = base64.b64decode(out.CipherText)
    clear = aes_decrypt(key, iv, ciphertext) if algorithm == "AES_256" else sm4_cbc(key, iv, ciphertext, SM4_DECRYPT)
    assert clear == b"generated iv"


def test_describe_details_and_service_status(kms):
    team = new_alias("team")
    a = create(kms, "SM4", Description="first", Tags=[tag(team, "a")])
    b = create(kms, "AES_256", Tags=[tag(team, "b")])
    info = call(kms, "DescribeWhiteBoxKey", KeyId=a.KeyId).KeyInfo
    assert (info.KeyId, info.Status, info.Algorithm, info.Description) == (a.KeyId, "Enabled", "SM4", "first")
    assert info.CreatorUin == info.OwnerUin and info.ResourceId == f"creatorUin/{info.CreatorUin}/{a.KeyId}"
    assert (info.EncryptKey, info.DecryptKey, info.DeviceFingerprintBind) == (a.EncryptKey, a.DecryptKey, False)

    def details(**fields):
        tf = models.TagFilter()
        tf.TagKey, tf.TagValue = team, fields.pop("values", ["a", "b"])
        out = call(kms, "DescribeWhiteBoxKeyDetails", TagFilters=[tf], **fields)
        return out.TotalCount, [k.KeyId for k in out.KeyInfos or []]

    assert details() == (2, [a.KeyId, b.KeyId])
    assert details(values=["b"]) == (1, [b.KeyId])
    assert details(Limit=1) == (2, [a.KeyId])
    assert details(Offset=1, Limit=1) == (2, [b.KeyId])
    call(kms, "DisableWhiteBoxKey", KeyId=b.KeyId)
    assert details(KeyStatus=0) == (1, [b.KeyId])
    assert details(KeyStatus=1) == (1, [a.KeyId])
    fails("InvalidParameterValue", call, kms, "DescribeWhiteBoxKeyDetails", KeyStatus=5)
    assert call(kms, "DescribeWhiteBoxServiceStatus").ServiceEnabled is True


def test_enable_disable_and_delete(kms):
    a, b = create(kms).KeyId, create(kms).KeyId
    call(kms, "DisableWhiteBoxKeys", KeyIds=[a, b])
    fails("ResourceUnavailable.KeyDisabled", call, kms, "EncryptByWhiteBox", KeyId=a, PlainText=b64(b"x"))
    # A disabled key still hands out its DecryptKey, so old ciphertexts stay readable.
    call(kms, "DescribeWhiteBoxDecryptKey", KeyId=a)
    fails("ResourceNotFound", call, kms, "EnableWhiteBoxKeys", KeyIds=[a, UNKNOWN])
    assert call(kms, "DescribeWhiteBoxKey", KeyId=a).KeyInfo.Status == "Disabled", "all or nothing"
    fails("InvalidParameterValue.DuplicatedKeyId", call, kms, "EnableWhiteBoxKeys", KeyIds=[a, a])
    call(kms, "EnableWhiteBoxKeys", KeyIds=[a, b])
    call(kms, "EncryptByWhiteBox", KeyId=a, PlainText=b64(b"x"))
    fails("FailedOperation", call, kms, "DeleteWhiteBoxKey", KeyId=a)
    call(kms, "DisableWhiteBoxKey", KeyId=a)
    call(kms, "DeleteWhiteBoxKey", KeyId=a)
    fails("ResourceNotFound", call, kms, "DescribeWhiteBoxKey", KeyId=a)
    fails("ResourceNotFound", call, kms, "EnableWhiteBoxKey", KeyId=a)
    call(kms, "EnableWhiteBoxKey", KeyId=b)


def test_request_errors(kms):
    key = create(kms).KeyId
    fails("InvalidParameterValue.InvalidKeyId", call, kms, "DescribeWhiteBoxKey", KeyId="nope")
    fails("ResourceNotFound", call, kms, "DescribeWhiteBoxKey", KeyId=UNKNOWN)
    fails("InvalidParameterValue", call, kms, "CreateWhiteBoxKey", Alias=new_alias(), Algorithm="AES_128")
    fails("MissingParameter", call, kms, "CreateWhiteBoxKey", Alias=new_alias())
    alias = new_alias()
    call(kms, "CreateWhiteBoxKey", Alias=alias, Algorithm="SM4")
    fails("InvalidParameterValue.AliasAlreadyExists", call, kms, "CreateWhiteBoxKey", Alias=alias, Algorithm="SM4")
    fails("InvalidParameterValue.InvalidAlias", call, kms, "CreateWhiteBoxKey", Alias="kms-x", Algorithm="SM4")
    fails("InvalidParameterValue", call, kms, "EncryptByWhiteBox", KeyId=key, PlainText=b64(bytes(4097)))
    fails("InvalidParameterValue", call, kms, "EncryptByWhiteBox", KeyId=key, PlainText=b64(b"x"),
          InitializationVector=b64(bytes(8)))


def test_device_fingerprints(kms):
    key = create(kms).KeyId
    written = [fingerprint(i, f"phone {i}") for i in range(3)]
    call(kms, "OverwriteWhiteBoxDeviceFingerprints", KeyId=key, DeviceFingerprints=written)
    got = call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=key).DeviceFingerprints
    assert [(f.Identity, f.Description) for f in got] == [(f.Identity, f.Description) for f in written]
    assert call(kms, "DescribeWhiteBoxKey", KeyId=key).KeyInfo.DeviceFingerprintBind is True
    fails("LimitExceeded.FingerprintsLimitExceeded", call, kms, "OverwriteWhiteBoxDeviceFingerprints",
          KeyId=key, DeviceFingerprints=[fingerprint(i) for i in range(201)])
    bad = models.DeviceFingerprint()
    bad.Identity = "not-a-fingerprint"
    fails("InvalidParameterValue", call, kms, "OverwriteWhiteBoxDeviceFingerprints", KeyId=key,
          DeviceFingerprints=[bad])
    assert len(call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=key).DeviceFingerprints) == 3
    call(kms, "OverwriteWhiteBoxDeviceFingerprints", KeyId=key, DeviceFingerprints=[fingerprint(i) for i in range(200)])
    assert len(call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=key).DeviceFingerprints) == 200
    call(kms, "OverwriteWhiteBoxDeviceFingerprints", KeyId=key, DeviceFingerprints=[])
    assert not call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=key).DeviceFingerprints
    assert call(kms, "DescribeWhiteBoxKey", KeyId=key).KeyInfo.DeviceFingerprintBind is False


def test_at_most_50_keys_per_account_and_region(server):
    # A region of its own, so keys made by the other tests do not count.
    kms = make_client(server, region="ap-chengdu")
    keys = [create(kms).KeyId for _ in range(50)]
    fails("LimitExceeded.KeyLimitExceeded", create, kms)
    call(kms, "DisableWhiteBoxKey", KeyId=keys[0])
    call(kms, "DeleteWhiteBoxKey", KeyId=keys[0])
    create(kms)  # the deleted key no longer counts


def test_restart_keeps_whitebox_keys(server, kms):
    created = create(kms, "SM4")
    call(kms, "OverwriteWhiteBoxDeviceFingerprints", KeyId=created.KeyId, DeviceFingerprints=[fingerprint(7, "kept")])
    call(kms, "DisableWhiteBoxKey", KeyId=created.KeyId)
    server.restart()
    kms = make_client(server)
    info = call(kms, "DescribeWhiteBoxKey", KeyId=created.KeyId).KeyInfo
    assert (info.Status, info.DecryptKey, info.DeviceFingerprintBind) == ("Disabled", created.DecryptKey, True)
    got = call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=created.KeyId).DeviceFingerprints
    assert [(f.Identity, f.Description) for f in got] == [(fingerprint(7).Identity, "kept")]
    call(kms, "EnableWhiteBoxKey", KeyId=created.KeyId)
    iv = os.urandom(16)
    out = call(kms, "EncryptByWhiteBox", KeyId=created.KeyId, PlainText=b64(b"after restart"),
               InitializationVector=b64(iv))
    key = raw_key(created.DecryptKey, "D", 2)
    assert sm4_cbc(key, iv, base64.b64decode(out.CipherText), SM4_DECRYPT) == b"after restart"


WB_ID, WB_KEY = "AKIDCAMWHITEBOXAPP000000000000000000", "camwhiteboxappsecret000000000000"
CAM_CONFIG = f"""
[policies]
mobile-whitebox = '{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:EncryptByWhiteBox","kms:DescribeWhiteBoxDecryptKey"],"resource":"qcs::kms:ap-guangzhou:uin/{UIN}:key/*","condition":{{"for_any_value:string_equal":{{"qcs:resource_tag/team":["mobile"]}}}}}}]}}'

[[accounts]]
uin = {UIN}

[[users]]
name = "wbapp"
account = {UIN}
kind = "sub_user"
secret_id = "{WB_ID}"
secret_key = "{WB_KEY}"
policies = ["mobile-whitebox"]
"""


@pytest.fixture(scope="module")
def cam_server():
    yield from serve_config(CAM_CONFIG, "tkms-whitebox-cam-")


def test_cam_allows_and_denies_by_key_tag_and_audits(cam_server):
    root = make_client(cam_server)
    mobile = create(root, Tags=[tag("team", "mobile")]).KeyId
    web = create(root, Tags=[tag("team", "web")]).KeyId
    app = kms_as(cam_server, WB_ID, WB_KEY)

    ok = call(app, "EncryptByWhiteBox", KeyId=mobile, PlainText=b64(b"allowed"))
    call(app, "DescribeWhiteBoxDecryptKey", KeyId=mobile)
    denied = fails("UnauthorizedOperation", call, app, "EncryptByWhiteBox", KeyId=web, PlainText=b64(b"x"))
    assert f"uin/{UIN}:key/{web}" in denied.get_message()
    disable = fails("UnauthorizedOperation", call, app, "DisableWhiteBoxKey", KeyId=mobile)
    fails("UnauthorizedOperation", call, app, "CreateWhiteBoxKey", Alias=new_alias(), Algorithm="SM4")
    assert call(root, "DescribeWhiteBoxKey", KeyId=mobile).KeyInfo.Status == "Enabled", "a denied call changes nothing"

    r = row(cam_server, ok.RequestId)
    assert (r["identity"], r["action"], r["key_id"], r["result"]) == ("wbapp", "EncryptByWhiteBox", mobile, "ok")
    r = row(cam_server, denied.get_request_id())
    assert (r["identity"], r["action"], r["key_id"], r["result"]) == \
        ("wbapp", "EncryptByWhiteBox", web, "UnauthorizedOperation")
    r = row(cam_server, disable.get_request_id())
    assert (r["action"], r["key_id"], r["result"]) == ("DisableWhiteBoxKey", mobile, "UnauthorizedOperation")
    # Calls that fail inside the family are audited with their code too.
    call(root, "DisableWhiteBoxKey", KeyId=web)
    refused = fails("ResourceUnavailable.KeyDisabled", call, root, "EncryptByWhiteBox", KeyId=web, PlainText=b64(b"x"))
    r = row(cam_server, refused.get_request_id())
    assert (r["identity"], r["key_id"], r["result"]) == ("root", web, "ResourceUnavailable.KeyDisabled")


def test_flattened_get_requests(server):
    """GET flattens lists of structs (`DeviceFingerprints.0.Identity`) and sends numbers as
    strings (`KeyStatus=1`); the answers match the POST ones."""
    kms = make_client(server, reqMethod="GET")
    team = new_alias("team")
    key = create(kms, "SM4", Tags=[tag(team, "get")]).KeyId
    written = [fingerprint(i, f"get {i}") for i in range(2)]
    call(kms, "OverwriteWhiteBoxDeviceFingerprints", KeyId=key, DeviceFingerprints=written)
    got = call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=key).DeviceFingerprints
    assert [(f.Identity, f.Description) for f in got] == [(f.Identity, f.Description) for f in written]
    tf = models.TagFilter()
    tf.TagKey, tf.TagValue = team, ["get"]
    out = call(kms, "DescribeWhiteBoxKeyDetails", KeyStatus=1, Limit=5, TagFilters=[tf])
    assert (out.TotalCount, [k.KeyId for k in out.KeyInfos]) == (1, [key])
    call(kms, "DisableWhiteBoxKeys", KeyIds=[key])
    assert call(kms, "DescribeWhiteBoxKeyDetails", KeyStatus=1, TagFilters=[tf]).TotalCount == 0


def test_tccli_creates_encrypts_and_binds_fingerprints(server, kms):
    assert TCCLI, "tccli is installed by scripts/python-conformance.sh"
    out = tccli(server, "CreateWhiteBoxKey", "--Alias", new_alias("cli"), "--Algorithm", "AES_256")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    iv = os.urandom(16)
    out = tccli(server, "EncryptByWhiteBox", "--KeyId", created["KeyId"], "--PlainText", b64(b"from tccli"),
                "--InitializationVector", b64(iv))
    assert out.returncode == 0, out.stderr
    key = raw_key(created["DecryptKey"], "D", 1)
    assert aes_decrypt(key, iv, base64.b64decode(json.loads(out.stdout)["CipherText"])) == b"from tccli"
    out = tccli(server, "OverwriteWhiteBoxDeviceFingerprints", "--KeyId", created["KeyId"],
                "--DeviceFingerprints", json.dumps([{"Identity": FP, "Description": "cli"}]))
    assert out.returncode == 0, out.stderr
    got = call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=created["KeyId"]).DeviceFingerprints
    assert [(f.Identity, f.Description) for f in got] == [(FP, "cli")]
    call(kms, "DisableWhiteBoxKey", KeyId=created["KeyId"])
    out = tccli(server, "EncryptByWhiteBox", "--KeyId", created["KeyId"], "--PlainText", b64(b"x"))
    assert out.returncode == 255
    assert "code:ResourceUnavailable.KeyDisabled" in out.stderr and out.stdout == ""


def test_every_action_leaves_an_audit_row(server, kms):
    created = create(kms)
    key, other = created.KeyId, create(kms).KeyId
    calls = [
        ("CreateWhiteBoxKey", created.RequestId, None),
        ("DescribeWhiteBoxKey", call(kms, "DescribeWhiteBoxKey", KeyId=key).RequestId, key),
        ("DescribeWhiteBoxKeyDetails", call(kms, "DescribeWhiteBoxKeyDetails").RequestId, None),
        ("DescribeWhiteBoxDecryptKey", call(kms, "DescribeWhiteBoxDecryptKey", KeyId=key).RequestId, key),
        ("EncryptByWhiteBox", call(kms, "EncryptByWhiteBox", KeyId=key, PlainText=b64(b"a")).RequestId, key),
        ("OverwriteWhiteBoxDeviceFingerprints",
         call(kms, "OverwriteWhiteBoxDeviceFingerprints", KeyId=key, DeviceFingerprints=[fingerprint(1)]).RequestId,
         key),
        ("DescribeWhiteBoxDeviceFingerprints",
         call(kms, "DescribeWhiteBoxDeviceFingerprints", KeyId=key).RequestId, key),
        ("DescribeWhiteBoxServiceStatus", call(kms, "DescribeWhiteBoxServiceStatus").RequestId, None),
        ("DisableWhiteBoxKeys", call(kms, "DisableWhiteBoxKeys", KeyIds=[other, key]).RequestId, other),
        ("EnableWhiteBoxKeys", call(kms, "EnableWhiteBoxKeys", KeyIds=[key]).RequestId, key),
        ("DisableWhiteBoxKey", call(kms, "DisableWhiteBoxKey", KeyId=key).RequestId, key),
        ("DeleteWhiteBoxKey", call(kms, "DeleteWhiteBoxKey", KeyId=key).RequestId, key),
        ("EnableWhiteBoxKey", fails("ResourceNotFound", call, kms, "EnableWhiteBoxKey", KeyId=key).get_request_id(),
         key),
    ]
    assert len({action for action, _, _ in calls}) == 13
    rows = {r["request_id"]: r for r in server.control("/_tkms/audit", {})["Records"]}
    for action, request_id, key_id in calls:
        r = rows[request_id]
        result = "ResourceNotFound" if action == "EnableWhiteBoxKey" else "ok"
        assert (r["action"], r["key_id"], r["result"], r["identity"]) == (action, key_id, result, "root"), r
