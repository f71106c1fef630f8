"""tkms from Python, measured (benches/python-package.sh runs it; figures in docs/performance.md).

1. tkms.encrypt of 1 KiB messages per second beside cryptography's AESGCM on the same data.
2. tkms.encrypt_file / decrypt_file of a large file beside the `tkms` binary on the same file.
3. Starting and stopping a tkms.testing.KmsServer.

Rounds alternate between the contenders so a shared machine's load hits both alike; medians.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

import tkms
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tkms.testing import KmsServer


def rate(fn, seconds):
    """Calls per second of `fn` over about `seconds`."""
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(20):
            fn()
        n += 20
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def messages(rounds, seconds, store):
    message = os.urandom(1024)
    key = AESGCM(AESGCM.generate_key(bit_length=256))
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    contenders = {
        "cryptography AESGCM": lambda: key.encrypt(os.urandom(12), message, None),
        "tkms.encrypt, RSA-2048 recipient": lambda: tkms.encrypt(message, recipients=[public_pem]),
        "tkms.encrypt, embedded store": lambda: tkms.encrypt(message, data_dir=store),
    }
    tkms.encrypt(message, data_dir=store)  # creates the store and its default key
    results = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            results[name].append(rate(fn, seconds))
    base = statistics.median(results["cryptography AESGCM"])
    print(f"1 KiB messages, {rounds} rounds of {seconds} s (median per second):")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:36s} {median:>12,.0f}/s  ({median / base:.3f} of AESGCM)  rounds: {', '.join(f'{v:,.0f}' for v in values)}")


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def files(rounds, gib, binary, work, store):
    src = work / "plain.bin"
    with open(src, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(int(gib * 1024)):
            f.write(chunk)
    size = src.stat().st_size
    sealed, opened = work / "sealed.tkms", work / "opened.bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TKMS_", "TENCENTCLOUD_"))}

    def run(*args):
        subprocess.run([binary, "--data-dir", str(store), *args], check=True, env=env)

    contenders = {
        "encrypt: tkms binary": lambda: run("encrypt", str(src), "-o", str(sealed), "--force"),
        "encrypt: tkms.encrypt_file": lambda: tkms.encrypt_file(src, sealed, force=True, data_dir=store),
        "decrypt: tkms binary": lambda: run("decrypt", str(sealed), "-o", str(opened), "--force"),
        "decrypt: tkms.decrypt_file": lambda: tkms.decrypt_file(sealed, opened, force=True, data_dir=store),
    }
    results = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            results[name].append(timed(fn))
    print(f"{size / 2**30:.2f} GiB file, {rounds} rounds (median seconds, GiB/s):")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:28s} {median:7.3f} s  {size / 2**30 / median:6.2f} GiB/s  rounds: {', '.join(f'{v:.3f}' for v in values)}")
    for op in ("encrypt", "decrypt"):
        py = statistics.median(results[f"{op}: tkms.{op}_file"])
        cli = statistics.median(results[f"{op}: tkms binary"])
        print(f"  {op}: Python / binary = {py / cli:.3f}")


def servers(count):
    times = []
    for _ in range(count):
        start = time.perf_counter()
        server = KmsServer()
        server.stop()
        times.append(time.perf_counter() - start)
    times.sort()
    print(f"KmsServer start+stop, {count} times: median {statistics.median(times) * 1000:.1f} ms, "
          f"p90 {times[int(count * 0.9)] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--work", default=None, help="directory for the large files (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work, prefix="tkms-pybench-") as tmp:
        work = pathlib.Path(tmp)
        store = work / "store"
        servers(50)
        messages(args.rounds, args.seconds, store)
        files(args.rounds, args.gib, args.binary, work, store)


if __name__ == "__main__":
    main()
