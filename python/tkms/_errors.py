"""The exceptions of tkms, one per exit code of the `tkms` command line (docs/cli.md)."""

from typing import Optional


class TkmsError(Exception):
    """A tkms operation failed. `exit_code` is the `tkms` command line's for the same failure."""

    exit_code: int = 1
    hint: Optional[str] = None
    code: Optional[str] = None
    request_id: Optional[str] = None

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} (hint: {self.hint})" if self.hint else message


class UsageError(TkmsError, ValueError):
    """Bad arguments: an unknown key name, a bad PEM key, an existing output without force (exit 2)."""

    exit_code = 2


class TkmsIOError(TkmsError, OSError):
    """Reading the input or writing the output failed (exit 3)."""

    exit_code = 3


class FormatError(TkmsError):
    """Not a tkms file, or a header this version cannot read (exit 4)."""

    exit_code = 4


class IntegrityError(TkmsError):
    """Authentication failed: tampered or truncated data, wrong identity or context (exit 5)."""

    exit_code = 5


class KmsError(TkmsError):
    """The KMS refused; `code` is the Tencent error code, `request_id` its RequestId (exit 6)."""

    exit_code = 6


class KmsUnavailable(TkmsError):
    """The KMS could not be reached, or failed internally (exit 7)."""

    exit_code = 7


_BY_EXIT_CODE = {cls.exit_code: cls for cls in (UsageError, TkmsIOError, FormatError, IntegrityError, KmsError, KmsUnavailable)}


def error_class(exit_code: int) -> type:
    """The exception class for a `tkms` exit code (called by the native module)."""
    return _BY_EXIT_CODE.get(exit_code, TkmsError)
