"""tkms: the Tencent Cloud KMS envelope format, the tkms command line and an offline KMS mock.

`encrypt`/`decrypt` (bytes), `encrypt_file`/`decrypt_file` (streaming files) and `inspect` run
the same Rust code as `tkms encrypt`, `tkms decrypt` and `tkms inspect --output json`, with the
GIL released. `tkms.testing.KmsServer` and the pytest plugin give tests a mock KMS.
See docs/python.md.
"""

import json
import os
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union

from . import _native
from ._errors import (
    FormatError,
    IntegrityError,
    KmsError,
    KmsUnavailable,
    TkmsError,
    TkmsIOError,
    UsageError,
)

__all__ = [
    "encrypt",
    "decrypt",
    "encrypt_file",
    "decrypt_file",
    "inspect",
    "TkmsError",
    "UsageError",
    "TkmsIOError",
    "FormatError",
    "IntegrityError",
    "KmsError",
    "KmsUnavailable",
]

PathLike = Union[str, "os.PathLike[str]"]
KeyLike = Union[bytes, PathLike]


def _context(context: Optional[Mapping[str, str]]) -> list:
    if context is None:
        return []
    pairs = list(context.items())
    for key, value in pairs:
        if not isinstance(key, str) or not isinstance(value, str):
            raise UsageError("context keys and values must be str")
        if not key:
            raise UsageError("context keys must not be empty")
    return pairs


def _keys(keys: Iterable[KeyLike], what: str) -> list:
    if isinstance(keys, (str, bytes, os.PathLike)):
        raise UsageError(f"{what} must be a list of PEM paths or PEM bytes, not a single key")
    out = []
    for key in keys:
        if isinstance(key, (bytes, bytearray, memoryview)):
            out.append(bytes(key))
        elif isinstance(key, (str, os.PathLike)):
            out.append(os.fspath(key))
        else:
            raise UsageError(f"{what}: expected a PEM path or PEM bytes, got {type(key).__name__}")
    return out


def _credentials(credentials: Optional[Tuple[str, str]]) -> Optional[Tuple[str, str]]:
    if credentials is None:
        return None
    secret_id, secret_key = credentials
    return (str(secret_id), str(secret_key))


def _bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes, got {type(data).__name__}")


def _dir(path: Optional[PathLike]) -> Optional[str]:
    return None if path is None else os.fspath(path)


def encrypt(
    data: bytes,
    *,
    key: Optional[str] = None,
    context: Optional[Mapping[str, str]] = None,
    suite: Optional[str] = None,
    recipients: Iterable[KeyLike] = (),
    endpoint: Optional[str] = None,
    credentials: Optional[Tuple[str, str]] = None,
    data_dir: Optional[PathLike] = None,
) -> bytes:
    """Encrypts `data` into a tkms envelope, as `tkms encrypt` does."""
    return _native.encrypt(
        _bytes(data), key, _context(context), suite, _keys(recipients, "recipients"),
        endpoint, _credentials(credentials), _dir(data_dir),
    )


def decrypt(
    data: bytes,
    *,
    context: Optional[Mapping[str, str]] = None,
    identities: Iterable[KeyLike] = (),
    endpoint: Optional[str] = None,
    credentials: Optional[Tuple[str, str]] = None,
    data_dir: Optional[PathLike] = None,
) -> bytes:
    """Decrypts a whole tkms envelope, as `tkms decrypt` does; nothing unless it all authenticates."""
    return _native.decrypt(
        _bytes(data), _context(context), _keys(identities, "identities"),
        endpoint, _credentials(credentials), _dir(data_dir),
    )


def encrypt_file(
    src: PathLike,
    dst: PathLike,
    *,
    force: bool = False,
    key: Optional[str] = None,
    context: Optional[Mapping[str, str]] = None,
    suite: Optional[str] = None,
    recipients: Iterable[KeyLike] = (),
    endpoint: Optional[str] = None,
    credentials: Optional[Tuple[str, str]] = None,
    data_dir: Optional[PathLike] = None,
) -> None:
    """Encrypts the file `src` into `dst` (`tkms encrypt SRC -o DST`): streaming; `dst` appears only complete."""
    _native.encrypt_file(
        os.fspath(src), os.fspath(dst), bool(force), key, _context(context), suite,
        _keys(recipients, "recipients"), endpoint, _credentials(credentials), _dir(data_dir),
    )


def decrypt_file(
    src: PathLike,
    dst: PathLike,
    *,
    force: bool = False,
    context: Optional[Mapping[str, str]] = None,
    identities: Iterable[KeyLike] = (),
    endpoint: Optional[str] = None,
    credentials: Optional[Tuple[str, str]] = None,
    data_dir: Optional[PathLike] = None,
) -> None:
    """Decrypts the file `src` into `dst` (`tkms decrypt SRC -o DST`): all or nothing."""
    _native.decrypt_file(
        os.fspath(src), os.fspath(dst), bool(force), _context(context),
        _keys(identities, "identities"), endpoint, _credentials(credentials), _dir(data_dir),
    )


def inspect(data_or_path: Union[bytes, PathLike]) -> Dict[str, Any]:
    """The header of an envelope (bytes, or a file path): the fields of `tkms inspect --output json`."""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        text = _native.inspect(_bytes(data_or_path))
    else:
        text = _native.inspect_file(os.fspath(data_or_path))
    return json.loads(text)
