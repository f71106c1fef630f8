"""An in-process mock of Tencent Cloud KMS for tests: `with KmsServer() as kms: ...`.

The server is the one `tkms serve --test-controls` runs (docs/serve.md), on a free loopback
port and on Rust threads of its own: the GIL is not held while it serves. The clock, reset and
audit methods call its `/_tkms/*` test controls, so they behave exactly as documented there.
"""

import atexit
import json
import os
import threading
import urllib.request
import weakref
from typing import Any, Dict, Iterable, List, Optional, Union

from . import _native

__all__ = ["KmsServer"]

PathLike = Union[str, "os.PathLike[str]"]

#: Seconds a test-control call may take before it fails.
CONTROL_TIMEOUT = 30.0

# The filters `/_tkms/audit` understands (docs/cam.md), by their Python names.
_AUDIT_FILTERS = {
    "action": "Action",
    "key_id": "KeyId",
    "identity": "Identity",
    "result": "Result",
    "since": "From",
    "until": "To",
}

# Loopback only: environment proxies (HTTP_PROXY...) must not see test-control calls.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_running: "weakref.WeakSet[KmsServer]" = weakref.WeakSet()
_running_lock = threading.Lock()


class KmsServer:
    """A mock Tencent Cloud KMS on http://127.0.0.1:PORT, running until `stop()`.

    `data_dir`: keep keys in this directory (else in memory); `seed`: a seed file or a list
    of them (docs/seed-format.md); `config`: a CAM config file (docs/cam.md); `region`: the
    region of requests that name none; `regions`: regions served beyond the built-in list
    (as `tkms serve --regions`; a call naming any other gets UnsupportedRegion).
    """

    def __init__(
        self,
        data_dir: Optional[PathLike] = None,
        seed: Union[None, PathLike, Iterable[PathLike]] = None,
        config: Optional[PathLike] = None,
        region: str = "ap-guangzhou",
        regions: Iterable[str] = (),
    ) -> None:
        if isinstance(regions, str):
            raise TypeError("regions: a list of region names, not one string")
        if seed is None:
            seeds: List[str] = []
        elif isinstance(seed, (str, os.PathLike)):
            seeds = [os.fspath(seed)]
        else:
            seeds = [os.fspath(s) for s in seed]
        self._server = _native.Server(
            None if data_dir is None else os.fspath(data_dir),
            seeds,
            None if config is None else os.fspath(config),
            region,
            list(regions),
        )
        #: "http://127.0.0.1:PORT"
        self.endpoint: str = self._server.endpoint
        #: "127.0.0.1:PORT"
        self.host: str = self._server.host
        #: The root SecretId (fresh for every server).
        self.secret_id: str = self._server.secret_id
        #: The root SecretKey.
        self.secret_key: str = self._server.secret_key
        #: The region of requests that name none.
        self.region: str = self._server.region
        with _running_lock:
            _running.add(self)

    def __enter__(self) -> "KmsServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<KmsServer {self.endpoint} {state}>"

    @property
    def running(self) -> bool:
        """Whether the server still serves."""
        return self._server.running

    def stop(self) -> None:
        """Stops serving, joins the server's threads and releases the port (idempotent)."""
        self._server.stop()
        with _running_lock:
            _running.discard(self)

    def _control(self, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        if not self.running:
            raise RuntimeError(f"{self!r} is stopped")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoint + path, data=data, method="GET" if data is None else "POST")
        request.add_header("Content-Type", "application/json")
        with _opener.open(request, timeout=CONTROL_TIMEOUT) as response:
            answer = json.loads(response.read())
        error = answer.get("Response", {}).get("Error") if isinstance(answer.get("Response"), dict) else None
        if error:
            raise RuntimeError(f"{path}: {error.get('Code')}: {error.get('Message')}")
        return answer

    def now(self) -> int:
        """The mock clock, in Unix seconds."""
        return int(self._control("/_tkms/clock")["Now"])

    def advance_clock(self, seconds: int) -> int:
        """Moves the mock clock forward and runs the key schedules (rotation, deletion,
        import expiry) at once; returns the new time."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError("seconds must be a non-negative int (the clock never goes back)")
        return int(self._control("/_tkms/clock", {"Advance": seconds})["Now"])

    def reset(self) -> None:
        """Forgets every key and alias."""
        self._control("/_tkms/reset", {})

    def audit(self, **filters: Any) -> List[Dict[str, Any]]:
        """The audit rows (dicts: time, account_uin, identity, source_ip, action, key_id,
        region, result, request_id), filtered by action, key_id, identity, result ("ok",
        "error" or a Tencent code), since and until (Unix seconds)."""
        unknown = sorted(set(filters) - set(_AUDIT_FILTERS))
        if unknown:
            raise TypeError(f"unknown audit filters {unknown}; expected some of {sorted(_AUDIT_FILTERS)}")
        body = {_AUDIT_FILTERS[name]: value for name, value in filters.items() if value is not None}
        return list(self._control("/_tkms/audit", body)["Records"])


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        servers = list(_running)
    for server in servers:
        server.stop()
