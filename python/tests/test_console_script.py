"""The `tkms` console script runs the same command line as the Rust binary: same output, same
exit codes, and `tkms serve` stops on SIGINT/SIGTERM the same way."""

import os
import signal
import subprocess
import urllib.request

import pytest


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TKMS_", "TENCENTCLOUD_"))}
    clean["TKMS_DATA_DIR"] = str(tmp_path / "store")
    return clean


def cases(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"hello")
    not_tkms = tmp_path / "not.tkms"
    not_tkms.write_bytes(b"plain text, not an envelope")
    exists = tmp_path / "exists"
    exists.write_bytes(b"x")
    return [
        (["--help"], 0),
        (["--version"], 0),
        (["encrypt", "--help"], 0),
        ([], 2),
        (["no-such-command"], 2),
        (["encrypt", "--frame-size", "1", str(plain)], 2),
        (["encrypt", str(plain), "-o", str(exists)], 2),
        (["decrypt", str(tmp_path / "missing")], 3),
        (["inspect", str(not_tkms)], 4),
        (["decrypt", str(not_tkms)], 4),
        (["encrypt", "--key", "no-such-alias", str(plain), "-o", str(tmp_path / "out")], 6),
        (["--endpoint", "http://127.0.0.1:9", "key", "list"], None),  # no credentials: usage
    ]


def run(command, args, env):
    return subprocess.run([command, *args], capture_output=True, env=env, timeout=120)


def test_exit_codes_and_output_match_the_binary(tmp_path, env, console_script, tkms_binary):
    for args, expected in cases(tmp_path):
        from_binary = run(tkms_binary, args, env)
        from_script = run(console_script, args, env)
        if expected is not None:
            assert from_binary.returncode == expected, (args, from_binary.stderr)
        assert from_script.returncode == from_binary.returncode, args
        assert from_script.stdout == from_binary.stdout, args
        assert from_script.stderr == from_binary.stderr, args


def test_round_trip_through_the_console_script(tmp_path, env, console_script, tkms_binary):
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(100_000))
    sealed = tmp_path / "sealed"
    assert run(console_script, ["encrypt", str(plain), "-o", str(sealed)], env).returncode == 0
    opened = run(tkms_binary, ["decrypt", str(sealed)], env)
    assert opened.returncode == 0 and opened.stdout == plain.read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_on_signals_like_the_binary(tmp_path, env, console_script, tkms_binary, sig):
    codes = []
    for command in (tkms_binary, console_script):
        proc = subprocess.Popen(
            [command, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "serve")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        )
        try:
            line = proc.stdout.readline()
            assert line.startswith("listening on http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
            # Serving (not merely bound): the signal handlers are in place once a request was answered.
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(line.split(" ", 2)[2].strip() + "/healthz", timeout=10) as response:
                assert response.status == 200
            proc.send_signal(sig)
            codes.append(proc.wait(timeout=30))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "Traceback" not in proc.stderr.read()
    assert codes == [0, 0]
