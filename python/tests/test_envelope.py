"""The envelope format from Python: byte-compatible with the `tkms` binary both ways, for both
suites, through the embedded store and offline recipients; failures raise the documented
exceptions and leave no output file."""

import os
import subprocess

import pytest

import tkms

SUITES = ["aes256gcm", "sm4gcm"]


def run_binary(binary, data_dir, *args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TKMS_", "TENCENTCLOUD_"))}
    result = subprocess.run([binary, "--data-dir", str(data_dir), *args], capture_output=True, env=env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr.decode()
    return result


@pytest.fixture
def data(tmp_path):
    # More than one frame (64 KiB default) and not a multiple of it.
    payload = os.urandom(200_003)
    path = tmp_path / "plain.bin"
    path.write_bytes(payload)
    return path, payload


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("suite", SUITES)
def test_python_files_decrypt_with_the_binary_and_back(tmp_path, tkms_binary, data, suite):
    store = tmp_path / "store"
    src, payload = data
    context = {"app": "backup", "env": "ci"}

    sealed = tmp_path / "py.tkms"
    tkms.encrypt_file(src, sealed, suite=suite, context=context, data_dir=store)
    assert tkms.inspect(sealed)["suite"] == suite
    opened = tmp_path / "bin.out"
    run_binary(tkms_binary, store, "decrypt", "--context", "app=backup", "--context", "env=ci", str(sealed), "-o", str(opened))
    assert opened.read_bytes() == payload

    by_binary = tmp_path / "bin.tkms"
    run_binary(tkms_binary, store, "encrypt", "--suite", suite, "--context", "app=backup", "--context", "env=ci", str(src), "-o", str(by_binary))
    assert tkms.decrypt(by_binary.read_bytes(), context=context, data_dir=store) == payload
    out = tmp_path / "py.out"
    tkms.decrypt_file(by_binary, out, context=context, data_dir=store)
    assert out.read_bytes() == payload
    assert os.stat(out).st_mode & 0o777 == 0o600


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("kind", ["rsa", "sm2"])
def test_offline_recipients_both_ways(tmp_path, tkms_binary, key_pairs, kind):
    public, private = key_pairs[kind]
    payload = os.urandom(70_000)
    unused_store = tmp_path / "never-created"

    # Python encrypts to a PEM path, the binary opens with the private key.
    sealed = tkms.encrypt(payload, recipients=[public])
    header = tkms.inspect(sealed)
    assert [sorted(w) for w in header["wrapped_keys"]] == [["method", "public_key_sha256", "wrapped_len"]]
    assert header["suite"] == ("sm4gcm" if kind == "sm2" else "aes256gcm")
    path = tmp_path / "py.tkms"
    path.write_bytes(sealed)
    result = run_binary(tkms_binary, unused_store, "decrypt", "--identity", str(private), str(path))
    assert result.stdout == payload

    # The binary encrypts, Python opens with the private key as PEM bytes.
    plain = tmp_path / "plain"
    plain.write_bytes(payload)
    by_binary = tmp_path / "bin.tkms"
    run_binary(tkms_binary, unused_store, "encrypt", "--recipient", str(public), str(plain), "-o", str(by_binary))
    assert tkms.decrypt(by_binary.read_bytes(), identities=[private.read_bytes()]) == payload
    assert not unused_store.exists(), "offline use must not create a key store"


def test_inspect_matches_the_binary(tmp_path, tkms_binary, key_pairs):
    public, _ = key_pairs["rsa"]
    path = tmp_path / "x.tkms"
    path.write_bytes(tkms.encrypt(b"hi", recipients=[public.read_bytes()], context={"a": "b"}))
    import json

    shown = run_binary(tkms_binary, tmp_path / "unused", "inspect", "--output", "json", str(path)).stdout
    assert tkms.inspect(path) == json.loads(shown)
    assert tkms.inspect(path.read_bytes()) == json.loads(shown)


@pytest.mark.usefixtures("clean_env")
def test_tampered_file_raises_integrity_error_and_leaves_no_output(tmp_path, data):
    store = tmp_path / "store"
    src, _ = data
    sealed = tmp_path / "x.tkms"
    tkms.encrypt_file(src, sealed, data_dir=store)
    raw = bytearray(sealed.read_bytes())
    raw[-100] ^= 0x01  # in the last frame: earlier frames authenticate and are written first
    sealed.write_bytes(bytes(raw))
    out = tmp_path / "out"
    with pytest.raises(tkms.IntegrityError) as caught:
        tkms.decrypt_file(sealed, out, data_dir=store)
    assert caught.value.exit_code == 5
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.bin", "store", "x.tkms"], "no partial file left"
    with pytest.raises(tkms.IntegrityError):
        tkms.decrypt(bytes(raw), data_dir=store)


@pytest.mark.usefixtures("clean_env")
def test_truncated_and_wrong_context_are_integrity_errors(tmp_path):
    store = tmp_path / "store"
    sealed = tkms.encrypt(os.urandom(150_000), context={"k": "v"}, data_dir=store)
    with pytest.raises(tkms.IntegrityError):
        tkms.decrypt(sealed[:-10], context={"k": "v"}, data_dir=store)
    with pytest.raises(tkms.IntegrityError):
        tkms.decrypt(sealed, context={"k": "other"}, data_dir=store)


def test_wrong_identity_is_an_integrity_error(key_pairs):
    sealed = tkms.encrypt(b"secret", recipients=[key_pairs["rsa"][0]])
    with pytest.raises(tkms.IntegrityError):
        tkms.decrypt(sealed, identities=[key_pairs["sm2"][1]])


def test_not_a_tkms_file_is_a_format_error(tmp_path):
    with pytest.raises(tkms.FormatError) as caught:
        tkms.decrypt(b"hello, this is plain text" * 10, identities=[])
    assert caught.value.exit_code == 4
    with pytest.raises(tkms.FormatError):
        tkms.inspect(b"not an envelope at all")
    assert issubclass(tkms.FormatError, tkms.TkmsError)


def test_usage_errors(tmp_path, key_pairs):
    with pytest.raises(tkms.UsageError):
        tkms.encrypt(b"x", recipients=[b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"])
    with pytest.raises(ValueError):
        tkms.encrypt(b"x", recipients=[key_pairs["rsa"][0]], suite="des")
    existing = tmp_path / "exists"
    existing.write_bytes(b"keep me")
    src = tmp_path / "src"
    src.write_bytes(b"data")
    with pytest.raises(tkms.UsageError) as caught:
        tkms.encrypt_file(src, existing, recipients=[key_pairs["rsa"][0]])
    assert caught.value.exit_code == 2
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(tkms.TkmsIOError):
        tkms.encrypt_file(tmp_path / "missing", tmp_path / "out", recipients=[key_pairs["rsa"][0]])


@pytest.mark.usefixtures("clean_env")
def test_kms_refusal_carries_the_tencent_code_and_request_id(tkms_server):
    credentials = (tkms_server.secret_id, tkms_server.secret_key)
    with pytest.raises(tkms.KmsError) as caught:
        tkms.encrypt(b"x", key="00000000-0000-0000-0000-000000000000", endpoint=tkms_server.endpoint, credentials=credentials)
    assert caught.value.exit_code == 6
    assert caught.value.code == "ResourceUnavailable.CmkNotFound"
    assert caught.value.request_id and len(caught.value.request_id) == 36
    with pytest.raises(tkms.KmsError) as caught:
        tkms.encrypt(b"x", endpoint=tkms_server.endpoint, credentials=(tkms_server.secret_id, "wrong"))
    assert caught.value.code.startswith("AuthFailure")


@pytest.mark.usefixtures("clean_env")
def test_unreachable_kms_is_kms_unavailable():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(tkms.KmsUnavailable) as caught:
        tkms.encrypt(b"x", endpoint=f"http://127.0.0.1:{port}", credentials=("AKIDx", "y"))
    assert caught.value.exit_code == 7
    assert caught.value.code is None


@pytest.mark.usefixtures("clean_env")
def test_encrypt_through_a_server_with_explicit_credentials(tkms_server, tkms_kms_client):
    from tencentcloud.kms.v20190118 import models

    request = models.CreateKeyRequest()
    request.Alias = "py-app"
    tkms_kms_client.CreateKey(request)
    credentials = (tkms_server.secret_id, tkms_server.secret_key)
    sealed = tkms.encrypt(b"payload", key="py-app", endpoint=tkms_server.endpoint, credentials=credentials)
    assert tkms.inspect(sealed)["wrapped_keys"][0]["kms_key_id"]
    assert tkms.decrypt(sealed, endpoint=tkms_server.endpoint, credentials=credentials) == b"payload"
    actions = [row["action"] for row in tkms_server.audit(result="ok")]
    assert "GenerateDataKey" in actions or "Encrypt" in actions
    assert "Decrypt" in actions


def test_the_gil_is_released_while_rust_encrypts(key_pairs):
    # A Python thread counts while the main thread is inside tkms.encrypt: with the GIL held
    # for the call it could not run a single Python bytecode until the call returned.
    import threading

    counter = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1

    spinner = threading.Thread(target=count)
    spinner.start()
    try:
        data = os.urandom(64 << 20)
        before = counter[0]
        sealed = tkms.encrypt(data, recipients=[key_pairs["rsa"][0]])
        during = counter[0] - before
        before = counter[0]
        assert tkms.decrypt(sealed, identities=[key_pairs["rsa"][1]]) == data
        during_decrypt = counter[0] - before
    finally:
        stop.set()
        spinner.join()
    assert during > 100, during
    assert during_decrypt > 100, during_decrypt
