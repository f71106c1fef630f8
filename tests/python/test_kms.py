"""KMS behaviour through the official Python SDK (docs/kms-api.md §3, §4, §5): lifecycle, rotation
(via the test controls), symmetric and asymmetric crypto, exact error codes, persistence."""

import base64
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import call, create_key, make_client

DAY = 86400


def b64(data):
    return base64.b64encode(data).decode()


def code_of(fn):
    with pytest.raises(TencentCloudSDKException) as e:
        fn()
    return e.value.get_code()


def state(kms, key_id):
    return call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState


def encrypt(kms, key_id, data, context=None):
    fields = {"KeyId": key_id, "Plaintext": b64(data)}
    if context is not None:
        fields["EncryptionContext"] = context
    return call(kms, "Encrypt", **fields).CiphertextBlob


def decrypt(kms, blob, context=None):
    fields = {"CiphertextBlob": blob}
    if context is not None:
        fields["EncryptionContext"] = context
    resp = call(kms, "Decrypt", **fields)
    return resp.KeyId, base64.b64decode(resp.Plaintext)


def test_create_describe_list(kms):
    created = create_key(kms, Description="conformance")
    assert created.KeyState == "Enabled" and created.KeyUsage == "ENCRYPT_DECRYPT"
    meta = call(kms, "DescribeKey", KeyId=created.KeyId).KeyMetadata
    assert meta.KeyId == created.KeyId and meta.Alias == created.Alias and meta.Description == "conformance"
    assert meta.Origin == "TENCENT_KMS" and meta.CreateTime > 0
    listed = call(kms, "ListKeys", Offset=0, Limit=200)
    assert created.KeyId in [k.KeyId for k in listed.Keys]


def test_lifecycle_and_state_errors(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id, b"lifecycle")
    call(kms, "DisableKey", KeyId=key_id)
    assert state(kms, key_id) == "Disabled"
    assert code_of(lambda: encrypt(kms, key_id, b"x")) == "ResourceUnavailable.CmkDisabled"
    assert code_of(lambda: decrypt(kms, blob)) == "ResourceUnavailable.CmkDisabled"
    call(kms, "EnableKey", KeyId=key_id)
    assert code_of(lambda: call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)) == \
        "ResourceUnavailable.CmkShouldBeDisabled"
    call(kms, "DisableKey", KeyId=key_id)
    assert code_of(lambda: call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=6)) == \
        "InvalidParameter.InvalidPendingWindowInDays"
    deletion = call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    assert deletion.DeletionDate > 0
    assert state(kms, key_id) == "PendingDelete"
    call(kms, "CancelKeyDeletion", KeyId=key_id)
    assert state(kms, key_id) == "Disabled"
    assert code_of(lambda: call(kms, "CancelKeyDeletion", KeyId=key_id)) == "ResourceUnavailable.CmkNotPendingDelete"
    call(kms, "EnableKey", KeyId=key_id)
    assert decrypt(kms, blob)[1] == b"lifecycle"


def test_archived_key_decrypts_but_does_not_encrypt(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id, b"archive me")
    call(kms, "ArchiveKey", KeyId=key_id)
    assert state(kms, key_id) == "Archived"
    assert code_of(lambda: encrypt(kms, key_id, b"x")) == "ResourceUnavailable.CmkArchived"
    assert decrypt(kms, blob) == (key_id, b"archive me")
    call(kms, "CancelKeyArchive", KeyId=key_id)
    assert state(kms, key_id) == "Enabled"


def test_encrypt_decrypt_with_context(kms):
    key_id = create_key(kms).KeyId
    ctx = '{"purpose":"test"}'
    blob = encrypt(kms, key_id, b"hello", ctx)
    assert decrypt(kms, blob, ctx) == (key_id, b"hello")
    assert code_of(lambda: decrypt(kms, blob, '{"purpose":"other"}')) == "InvalidParameterValue.InvalidCiphertext"
    assert code_of(lambda: decrypt(kms, blob)) == "InvalidParameterValue.InvalidCiphertext"
    assert code_of(lambda: decrypt(kms, "not-a-blob")) == "InvalidParameterValue.InvalidCiphertext"
    assert code_of(lambda: encrypt(kms, key_id, os.urandom(4097))) == "InvalidParameterValue.InvalidPlaintext"
    assert code_of(lambda: encrypt(kms, "00000000-0000-0000-0000-000000000000", b"x")) == \
        "ResourceUnavailable.CmkNotFound"


def test_generate_data_key(kms):
    key_id = create_key(kms).KeyId
    resp = call(kms, "GenerateDataKey", KeyId=key_id, KeySpec="AES_256", EncryptionContext='{"a":"b"}')
    data_key = base64.b64decode(resp.Plaintext)
    assert len(data_key) == 32
    assert decrypt(kms, resp.CiphertextBlob, '{"a":"b"}') == (key_id, data_key)
    assert len(base64.b64decode(call(kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=16).Plaintext)) == 16
    assert code_of(lambda: call(kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=1025)) == "InvalidParameter"


def test_generate_data_key_for_a_local_rsa_public_key(kms):
    key_id = create_key(kms).KeyId
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    resp = call(kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=32, EncryptionPublicKey=pem,
                EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    wrapped = base64.b64decode(resp.Plaintext)
    assert len(wrapped) == 256, "the data key comes back encrypted, never in the clear"
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    data_key = private.decrypt(wrapped, oaep)
    assert len(data_key) == 32
    assert decrypt(kms, resp.CiphertextBlob)[1] == data_key


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1", "RSAES_PKCS1_V1_5"])
def test_asymmetric_rsa_decrypt_of_local_encryption(kms, algorithm):
    key_id = create_key(kms, usage="ASYMMETRIC_DECRYPT_RSA_2048").KeyId
    pub = call(kms, "GetPublicKey", KeyId=key_id)
    public = serialization.load_pem_public_key(pub.PublicKeyPem.encode())
    assert serialization.load_der_public_key(base64.b64decode(pub.PublicKey)).public_numbers() == \
        public.public_numbers()
    pad = {
        "RSAES_OAEP_SHA_256": padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        "RSAES_OAEP_SHA_1": padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        "RSAES_PKCS1_V1_5": padding.PKCS1v15(),
    }[algorithm]
    secret = os.urandom(32)
    ct = public.encrypt(secret, pad)
    resp = call(kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=b64(ct), Algorithm=algorithm)
    assert base64.b64decode(resp.Plaintext) == secret
    tampered = bytearray(ct)
    tampered[-1] ^= 1
    assert code_of(lambda: call(kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=b64(bytes(tampered)),
                                Algorithm=algorithm)) == "FailedOperation.DecryptError"
    sym = create_key(kms).KeyId
    assert code_of(lambda: call(kms, "AsymmetricRsaDecrypt", KeyId=sym, Ciphertext=b64(ct),
                                Algorithm=algorithm)) == "InvalidParameterValue.InvalidKeyUsage"


def test_rotation_with_the_mock_clock(server, kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=7)
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is True
    before = call(kms, "DescribeKey", KeyId=key_id).KeyMetadata
    old_blob = encrypt(kms, key_id, b"before rotation")
    server.advance(8 * DAY)
    after = call(kms, "DescribeKey", KeyId=key_id).KeyMetadata
    assert after.LastRotateTime > before.LastRotateTime
    assert after.NextRotateTime > before.NextRotateTime
    assert decrypt(kms, old_blob) == (key_id, b"before rotation"), "old versions still decrypt"
    assert decrypt(kms, encrypt(kms, key_id, b"after"))[1] == b"after"
    # ReEncrypt moves old ciphertext to the newest version.
    re = call(kms, "ReEncrypt", CiphertextBlob=old_blob)
    assert re.ReEncrypted is True and re.KeyId == key_id
    assert decrypt(kms, re.CiphertextBlob)[1] == b"before rotation"


def test_rotate_key_now_and_rate_limit(kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id)
    blob = encrypt(kms, key_id, b"v1")
    call(kms, "RotateKey", KeyId=key_id)
    assert call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.LastRotateTime > 0
    assert code_of(lambda: call(kms, "RotateKey", KeyId=key_id)) == "RequestLimitExceeded.RotateRateLimited"
    assert decrypt(kms, blob)[1] == b"v1"


def test_restart_keeps_keys_versions_and_states(server):
    kms = make_client(server)
    rotated = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=rotated, RotateDays=7)
    blob_v1 = encrypt(kms, rotated, b"version one")
    call(kms, "RotateKey", KeyId=rotated)
    blob_v2 = encrypt(kms, rotated, b"version two")
    disabled = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=disabled)
    pending = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=pending)
    call(kms, "ScheduleKeyDeletion", KeyId=pending, PendingWindowInDays=30)
    rsa_key = create_key(kms, usage="ASYMMETRIC_DECRYPT_RSA_2048").KeyId
    rsa_pem = call(kms, "GetPublicKey", KeyId=rsa_key).PublicKeyPem
    before = {k: call(kms, "DescribeKey", KeyId=k).KeyMetadata for k in (rotated, disabled, pending, rsa_key)}

    server.restart()
    kms = make_client(server)
    for key_id, meta in before.items():
        again = call(kms, "DescribeKey", KeyId=key_id).KeyMetadata
        for field in ("KeyState", "Alias", "KeyUsage", "CreateTime", "KeyRotationEnabled", "RotateDays",
                      "LastRotateTime", "DeletionDate"):
            assert getattr(again, field) == getattr(meta, field), (key_id, field)
    assert decrypt(kms, blob_v1)[1] == b"version one"
    assert decrypt(kms, blob_v2)[1] == b"version two"
    assert call(kms, "GetPublicKey", KeyId=rsa_key).PublicKeyPem == rsa_pem


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag, body):
    return bytes([tag]) + _der_len(len(body)) + body


def _der_int(value):
    body = value.to_bytes((value.bit_length() + 8) // 8, "big")  # a leading 0 keeps it positive
    return _der(0x02, body)


def sm2_encrypt_c1c3c2_der(spki_der, plaintext):
    """SM2 encryption with the pure-Python gmssl, re-encoded as the C1C3C2 ASN.1 the API takes."""
    from gmssl import sm2

    assert spki_der[-65] == 0x04, "uncompressed SM2 point at the end of the SPKI"
    public_hex = spki_der[-64:].hex()
    raw = sm2.CryptSM2(private_key=None, public_key=public_hex, mode=1).encrypt(plaintext)
    c1, c3, c2 = raw[:64], raw[64:96], raw[96:]
    body = (_der_int(int.from_bytes(c1[:32], "big")) + _der_int(int.from_bytes(c1[32:], "big"))
            + _der(0x04, c3) + _der(0x04, c2))
    return _der(0x30, body)


def test_asymmetric_sm2_decrypt_of_local_encryption(kms):
    key_id = create_key(kms, usage="ASYMMETRIC_DECRYPT_SM2").KeyId
    spki = base64.b64decode(call(kms, "GetPublicKey", KeyId=key_id).PublicKey)
    assert spki.startswith(bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004"))
    secret = os.urandom(32)
    ct = sm2_encrypt_c1c3c2_der(spki, secret)
    resp = call(kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(ct))
    assert base64.b64decode(resp.Plaintext) == secret
    tampered = bytearray(ct)
    tampered[-1] ^= 1
    assert code_of(lambda: call(kms, "AsymmetricSm2Decrypt", KeyId=key_id,
                                Ciphertext=b64(bytes(tampered)))) == "FailedOperation.DecryptError"
