"""Post-quantum keys and the remaining signing keys through the official Python SDK (issue 13
items 2 and 3): ML-KEM-768 (ASYMMETRIC_Encrypt_Decrypt_Kyber_AES) with PostQuantumCryptoEncrypt
and PostQuantumCryptoDecrypt, ML-DSA-65 (ASYMMETRIC_SIGN_VERIFY_DILITHIUM) with
PostQuantumCryptoSign and PostQuantumCryptoVerify, RSA-3072 and ECDSA P-384 signatures checked
with `cryptography`; state and usage codes, restart persistence, CAM allow/deny, audit rows."""

import base64
import pathlib
import tempfile

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from conftest import REGION, call, create_key, make_client
from test_cam import CamServer, kms_as, refused, row
from test_kms import b64, code_of

KYBER = "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES"
DILITHIUM = "ASYMMETRIC_SIGN_VERIFY_DILITHIUM"
# SubjectPublicKeyInfo prefixes: SEQUENCE, AlgorithmIdentifier with the NIST OID, BIT STRING.
ML_KEM_768_SPKI = bytes.fromhex("308204b2300b0609608648016503040402038204a100")
ML_DSA_65_SPKI = bytes.fromhex("308207b2300b0609608648016503040312038207a100")


def public_der(kms, key_id):
    resp = call(kms, "GetPublicKey", KeyId=key_id)
    der = base64.b64decode(resp.PublicKey)
    pem_body = "".join(l for l in resp.PublicKeyPem.splitlines() if not l.startswith("-----"))
    assert base64.b64decode(pem_body) == der
    return der


def pq_encrypt(kms, key_id, data):
    resp = call(kms, "PostQuantumCryptoEncrypt", KeyId=key_id, PlainText=b64(data))
    assert resp.KeyId == key_id
    return resp.CiphertextBlob


def pq_sign(kms, key_id, message):
    return call(kms, "PostQuantumCryptoSign", KeyId=key_id, Message=b64(message)).Signature


def pq_verify(kms, key_id, message, signature):
    return call(kms, "PostQuantumCryptoVerify", KeyId=key_id, Message=b64(message),
                SignatureValue=signature).SignatureValid


def test_kyber_encrypt_decrypt(kms):
    key_id = create_key(kms, usage=KYBER).KeyId
    assert call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyUsage == KYBER
    der = public_der(kms, key_id)
    assert der.startswith(ML_KEM_768_SPKI) and len(der) == len(ML_KEM_768_SPKI) + 1184
    blob = pq_encrypt(kms, key_id, b"post-quantum payload")
    resp = call(kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob)
    assert (resp.KeyId, base64.b64decode(resp.PlainText)) == (key_id, b"post-quantum payload")
    head, nonce, body = blob.split("-k-")
    tampered = "-k-".join([head, nonce, b64(bytes([base64.b64decode(body)[0] ^ 1]) + base64.b64decode(body)[1:])])
    assert code_of(lambda: call(kms, "PostQuantumCryptoDecrypt", CiphertextBlob=tampered)) == \
        "InvalidParameterValue.InvalidCiphertext"
    assert code_of(lambda: call(kms, "Decrypt", CiphertextBlob=blob)) == "InvalidParameterValue.InvalidCiphertext"
    assert code_of(lambda: call(kms, "PostQuantumCryptoEncrypt", KeyId=key_id, PlainText="")) == \
        "InvalidParameterValue.InvalidPlaintext"
    symmetric = create_key(kms).KeyId
    assert code_of(lambda: call(kms, "PostQuantumCryptoEncrypt", KeyId=symmetric, PlainText=b64(b"m"))) == \
        "InvalidParameterValue.InvalidKeyUsage"


def test_kyber_decrypt_sealed_to_a_local_rsa_key(kms):
    key_id = create_key(kms, usage=KYBER).KeyId
    blob = pq_encrypt(kms, key_id, b"for my eyes only")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    resp = call(kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob, EncryptionPublicKey=pem,
                EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert private.decrypt(base64.b64decode(resp.PlainText), oaep) == b"for my eyes only"


def test_kyber_states(kms):
    key_id = create_key(kms, usage=KYBER).KeyId
    blob = pq_encrypt(kms, key_id, b"m")
    call(kms, "DisableKey", KeyId=key_id)
    assert code_of(lambda: pq_encrypt(kms, key_id, b"m")) == "ResourceUnavailable.CmkDisabled"
    assert code_of(lambda: call(kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob)) == \
        "ResourceUnavailable.CmkDisabled"
    call(kms, "EnableKey", KeyId=key_id)
    call(kms, "ArchiveKey", KeyId=key_id)
    assert code_of(lambda: pq_encrypt(kms, key_id, b"m")) == "ResourceUnavailable.CmkArchived"
    assert base64.b64decode(call(kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob).PlainText) == b"m"


def test_dilithium_sign_verify(kms):
    key_id = create_key(kms, usage=DILITHIUM).KeyId
    der = public_der(kms, key_id)
    assert der.startswith(ML_DSA_65_SPKI) and len(der) == len(ML_DSA_65_SPKI) + 1952
    signature = pq_sign(kms, key_id, b"release 1.2.3")
    assert len(base64.b64decode(signature)) == 3309
    assert pq_verify(kms, key_id, b"release 1.2.3", signature) is True
    assert pq_verify(kms, key_id, b"release 1.2.4", signature) is False
    assert pq_verify(kms, key_id, b"release 1.2.3", b64(b"short")) is False
    rsa_key = create_key(kms, usage="ASYMMETRIC_SIGN_VERIFY_RSA_2048").KeyId
    assert code_of(lambda: pq_sign(kms, rsa_key, b"m")) == "InvalidParameterValue.InvalidKeyUsage"
    assert code_of(lambda: call(kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm="RSA_PSS_SHA_256",
                                Message=b64(b"m"))) == "InvalidParameterValue.InvalidKeyUsage"
    call(kms, "DisableKey", KeyId=key_id)
    assert code_of(lambda: pq_sign(kms, key_id, b"m")).startswith("ResourceUnavailable.")
    assert code_of(lambda: pq_sign(kms, "not-a-key", b"m")) == "InvalidParameterValue.InvalidKeyId"


@pytest.mark.parametrize("usage,algorithm", [
    ("ASYMMETRIC_SIGN_VERIFY_RSA_3072", "RSA_PSS_SHA_256"),
    ("ASYMMETRIC_SIGN_VERIFY_RSA_3072", "RSA_PKCS1_SHA_256"),
    ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "ECDSA384_SHA384"),
])
def test_rsa_3072_and_ecdsa_384_verify_locally(kms, usage, algorithm):
    key_id = create_key(kms, usage=usage).KeyId
    public = serialization.load_der_public_key(public_der(kms, key_id))
    message = b"checked by the cryptography package"
    signature = base64.b64decode(call(kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=algorithm,
                                      Message=b64(message)).Signature)
    if algorithm == "ECDSA384_SHA384":
        assert public.curve.name == "secp384r1"
        public.verify(signature, message, ec.ECDSA(hashes.SHA384()))
    else:
        assert public.key_size == 3072
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO) \
            if algorithm == "RSA_PSS_SHA_256" else padding.PKCS1v15()
        public.verify(signature, message, pad, hashes.SHA256())
    assert call(kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=algorithm, Message=b64(message),
                SignatureValue=b64(signature)).SignatureValid is True


def test_list_algorithms(kms):
    resp = call(kms, "ListAlgorithms")
    asymmetric = {(a.KeyUsage, a.Algorithm) for a in resp.AsymmetricAlgorithms}
    signing = {(a.KeyUsage, a.Algorithm) for a in resp.AsymmetricSignVerifyAlgorithms}
    assert (KYBER, "Kyber_AES") in asymmetric
    assert {("ASYMMETRIC_SIGN_VERIFY_RSA_3072", "RSA_3072"), ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "ECDSA384_SHA384"),
            (DILITHIUM, "Dilithium")} <= signing
    for usage, _ in asymmetric | signing:
        call(kms, "GetPublicKey", KeyId=create_key(kms, usage=usage).KeyId)


def test_restart_keeps_pq_keys(server):
    kms = make_client(server)
    kyber = create_key(kms, usage=KYBER).KeyId
    dilithium = create_key(kms, usage=DILITHIUM).KeyId
    blob = pq_encrypt(kms, kyber, b"survives restarts")
    signature = pq_sign(kms, dilithium, b"m")
    der = public_der(kms, dilithium)
    server.restart()
    kms = make_client(server)
    assert base64.b64decode(call(kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob).PlainText) == \
        b"survives restarts"
    assert public_der(kms, dilithium) == der
    assert pq_verify(kms, dilithium, b"m", signature) is True


PQ_ID, PQ_KEY = "AKIDCAMPQSIGNER0000000000000000000000", "campqsignersecret000000000000000"
UIN = 100000000001
CONFIG = f"""
[policies]
pq-sign = '{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:PostQuantumCryptoSign","kms:PostQuantumCryptoEncrypt"],"resource":"qcs::kms:{REGION}:uin/{UIN}:key/*"}},{{"effect":"deny","action":"kms:PostQuantumCryptoDecrypt","resource":"*"}}]}}'

[[accounts]]
uin = {UIN}

[[users]]
name = "pq"
account = {UIN}
kind = "sub_user"
secret_id = "{PQ_ID}"
secret_key = "{PQ_KEY}"
policies = ["pq-sign"]
"""


@pytest.fixture(scope="module")
def pq_cam_server():
    with tempfile.TemporaryDirectory(prefix="tkms-pq-cam-") as tmp:
        config = pathlib.Path(tmp) / "cam.toml"
        config.write_text(CONFIG)
        s = CamServer(pathlib.Path(tmp) / "data", config)
        yield s
        s.stop()


def test_cam_allows_and_denies_pq_actions_with_audit_rows(pq_cam_server):
    root = make_client(pq_cam_server)
    kyber = create_key(root, usage=KYBER).KeyId
    dilithium = create_key(root, usage=DILITHIUM).KeyId
    pq = kms_as(pq_cam_server, PQ_ID, PQ_KEY)
    signed = call(pq, "PostQuantumCryptoSign", KeyId=dilithium, Message=b64(b"m"))
    encrypted = call(pq, "PostQuantumCryptoEncrypt", KeyId=kyber, PlainText=b64(b"m"))
    denied = refused(lambda: call(pq, "PostQuantumCryptoDecrypt", CiphertextBlob=encrypted.CiphertextBlob),
                     "UnauthorizedOperation")
    assert f"key/{kyber}" in denied.get_message(), "the blob's key is the resource"
    not_granted = refused(lambda: call(pq, "PostQuantumCryptoVerify", KeyId=dilithium, Message=b64(b"m"),
                                       SignatureValue=signed.Signature), "UnauthorizedOperation")
    assert call(root, "PostQuantumCryptoVerify", KeyId=dilithium, Message=b64(b"m"),
                SignatureValue=signed.Signature).SignatureValid is True

    for request_id, action, key, result in [
        (signed.RequestId, "PostQuantumCryptoSign", dilithium, "ok"),
        (encrypted.RequestId, "PostQuantumCryptoEncrypt", kyber, "ok"),
        (denied.get_request_id(), "PostQuantumCryptoDecrypt", kyber, "UnauthorizedOperation"),
        (not_granted.get_request_id(), "PostQuantumCryptoVerify", dilithium, "UnauthorizedOperation"),
    ]:
        r = row(pq_cam_server, request_id)
        assert (r["identity"], r["action"], r["key_id"], r["result"]) == ("pq", action, key, result)
