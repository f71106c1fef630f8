"""Servers started and stopped in one process leave no thread, port or file descriptor behind;
a server left running is stopped at interpreter exit."""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tkms.testing import KmsServer


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settled(measure, target, timeout=5.0):
    """`measure()` once it is at most `target` (thread exit is asynchronous), or its last value."""
    deadline = time.monotonic() + timeout
    value = measure()
    while value > target and time.monotonic() < deadline:
        time.sleep(0.02)
        value = measure()
    return value


def health(endpoint: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(endpoint + "/healthz", timeout=5) as response:
        return response.status


def test_many_servers_leave_nothing_behind():
    with KmsServer() as warm:  # first use loads libraries and caches: not a leak
        health(warm.endpoint)
    threads_before, fds_before = threads(), fds()
    ports = []
    for _ in range(30):
        with KmsServer() as server:
            assert health(server.endpoint) == 200
            assert server.now() > 0
            ports.append(int(server.host.rsplit(":", 1)[1]))
            assert threads() > threads_before, "the server runs on threads of its own"
        assert not server.running
    assert settled(threads, threads_before) == threads_before
    assert settled(fds, fds_before) == fds_before
    for port in set(ports):
        with socket.socket() as s:  # nothing listens there any more: a new listener binds
            # SO_REUSEADDR as servers use it: closed client connections may linger in TIME_WAIT,
            # but a listening socket still holding the port would make bind fail.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen()
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(2)
            s.connect(("127.0.0.1", port))


def test_stop_is_idempotent_and_controls_refuse_after_stop():
    server = KmsServer()
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        server.now()


def test_serving_does_not_hold_the_gil():
    # A Python thread keeps running while the server answers SDK-sized requests in Rust.
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    with KmsServer() as server:
        spinner = threading.Thread(target=spin)
        spinner.start()
        for _ in range(20):
            health(server.endpoint)
        stop.set()
        spinner.join()
    assert len(ticks) > 5


def test_running_servers_stop_at_interpreter_exit(tmp_path):
    script = tmp_path / "leave_running.py"
    script.write_text(
        "from tkms.testing import KmsServer\n"
        "server = KmsServer()\n"
        "print(server.host, flush=True)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    port = int(result.stdout.strip().rsplit(":", 1)[1])
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
