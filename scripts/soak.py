#!/usr/bin/env python3
"""Crash soak for `tkms serve` (not part of CI; results in docs/key-store.md, "Crash soak").

    .venv/bin/python scripts/soak.py [--cycles 100] [--clients 4] [--load-seconds 1.0]

Runs `tkms serve` on one data directory under a mixed client load (CreateKey with
EnableKeyRotation, Encrypt, GenerateDataKey, RotateKey, DisableKey then ScheduleKeyDeletion) through the official Tencent Cloud Python SDK,
SIGKILLs it in the middle of the load, restarts it, and checks that everything the server
acknowledged is still there: every created key exists, every key whose deletion was
acknowledged is PendingDelete, and every acknowledged ciphertext (Encrypt, GenerateDataKey)
decrypts to its plaintext, including those sealed under rotated versions. After the last
cycle, pending deletions are cancelled so their ciphertexts are decrypted too. Exits non-zero
on the first loss. The .venv is the one scripts/python-conformance.sh makes; TKMS_SERVE_CMD
overrides the server command (default target/debug/tkms serve).
"""

import argparse
import base64
import os
import pathlib
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client, models

REPO = pathlib.Path(__file__).resolve().parents[1]
SECRET_ID = "AKIDTKMSSOAK0000000000000000000000000"
SECRET_KEY = "tkmssoaksecretkey000000000000000"
REGION = "ap-guangzhou"


class Ledger:
    """What the server acknowledged (answered without error), shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys = set()
        self.deleting = set()
        self.deletion_tried = set()  # acknowledged or not: an unanswered one may have landed
        self.rotations = 0
        self.ciphertexts = []  # (key_id, blob, plaintext_b64)
        self.verified = 0  # ciphertexts checked after an earlier kill

    def snapshot(self):
        with self.lock:
            return set(self.keys), set(self.deleting), set(self.deletion_tried), list(self.ciphertexts)


def start_server(data_dir):
    cmd = shlex.split(os.environ.get("TKMS_SERVE_CMD", str(REPO / "target/debug/tkms") + " serve"))
    cmd += ["--listen", "127.0.0.1:0", "--data-dir", str(data_dir)]
    env = dict(os.environ, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        sys.exit(f"soak: unexpected first line from {cmd}: {line!r}")
    return proc, line[len("listening on http://"):]


def client(host):
    profile = HttpProfile(endpoint=host, protocol="http", reqTimeout=10)
    return kms_client.KmsClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION, ClientProfile(httpProfile=profile))


def call(kms, action, **fields):
    request = getattr(models, action + "Request")()
    for name, value in fields.items():
        setattr(request, name, value)
    return getattr(kms, action)(request)


def load(host, ledger, stop, seed):
    """One client: random actions until `stop`; records only what was acknowledged."""
    rng = random.Random(seed)
    kms = client(host)
    while not stop.is_set():
        with ledger.lock:
            usable = sorted(ledger.keys - ledger.deleting)
        try:
            roll = rng.random()
            if roll < 0.15 or not usable:
                r = call(kms, "CreateKey", Alias=f"soak-{seed}-{rng.getrandbits(48):x}")
                with ledger.lock:
                    ledger.keys.add(r.KeyId)
                call(kms, "EnableKeyRotation", KeyId=r.KeyId)
            elif roll < 0.55:
                key = rng.choice(usable)
                plain = base64.b64encode(rng.randbytes(rng.randint(1, 256))).decode()
                r = call(kms, "Encrypt", KeyId=key, Plaintext=plain)
                with ledger.lock:
                    ledger.ciphertexts.append((key, r.CiphertextBlob, plain))
            elif roll < 0.85:
                key = rng.choice(usable)
                r = call(kms, "GenerateDataKey", KeyId=key, KeySpec="AES_256")
                with ledger.lock:
                    ledger.ciphertexts.append((key, r.CiphertextBlob, r.Plaintext))
            elif roll < 0.95:
                call(kms, "RotateKey", KeyId=rng.choice(usable))
                with ledger.lock:
                    ledger.rotations += 1
            elif len(usable) > 2:
                key = rng.choice(usable)
                with ledger.lock:
                    ledger.deletion_tried.add(key)
                call(kms, "DisableKey", KeyId=key)
                call(kms, "ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
                with ledger.lock:
                    ledger.deleting.add(key)
        except TencentCloudSDKException as e:
            # Refusals (RotateRateLimited, ...) and the kill's network errors: not acknowledged.
            if e.code not in ("ClientNetworkError", "ServerNetworkError") and not e.code.startswith(
                ("RequestLimitExceeded", "ResourceUnavailable", "UnsupportedOperation")
            ):
                sys.exit(f"soak: unexpected error {e.code}: {e.message}")


def verify(host, ledger, ciphertexts_from, cancel_deletions=False):
    """Checks every acknowledged key and the ciphertexts from index `ciphertexts_from` on."""
    kms = client(host)
    keys, deleting, tried, ciphertexts = ledger.snapshot()
    pending = set()
    for key in sorted(keys):
        state = call(kms, "DescribeKey", KeyId=key).KeyMetadata.KeyState
        if key in deleting:
            allowed = {"PendingDelete"}
        elif key in tried:  # disabled first, then scheduled; either may have landed unanswered
            allowed = {"Enabled", "Disabled", "PendingDelete"}
        else:
            allowed = {"Enabled"}
        if state not in allowed:
            sys.exit(f"soak: LOST: key {key} is {state}, acknowledged {' or '.join(sorted(allowed))}")
        if state != "Enabled":
            pending.add(key)
            if cancel_deletions:
                if state == "PendingDelete":
                    call(kms, "CancelKeyDeletion", KeyId=key)
                call(kms, "EnableKey", KeyId=key)
    if cancel_deletions:
        pending = set()
    checked = 0
    for key, blob, plain in ciphertexts[ciphertexts_from:]:
        if key in pending:
            continue
        try:
            r = call(kms, "Decrypt", CiphertextBlob=blob)
        except TencentCloudSDKException as e:
            sys.exit(f"soak: LOST: a ciphertext of key {key} no longer decrypts: {e.code}")
        if r.Plaintext != plain or r.KeyId != key:
            sys.exit(f"soak: LOST: a ciphertext of key {key} decrypts to something else")
        checked += 1
    return checked, len(ciphertexts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--load-seconds", type=float, default=1.0, help="mean load before each SIGKILL")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    ledger = Ledger()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tkms-soak-") as data_dir:
        checked_upto = 0
        for cycle in range(1, args.cycles + 1):
            proc, host = start_server(data_dir)
            # Everything acknowledged before the last kill must have survived it.
            _, total = verify(host, ledger, checked_upto)
            ledger.verified += total - checked_upto
            checked_upto = total
            stop = threading.Event()
            threads = [
                threading.Thread(target=load, args=(host, ledger, stop, rng.getrandbits(32)), daemon=True)
                for _ in range(args.clients)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 2 * args.load_seconds))
            proc.send_signal(signal.SIGKILL)  # mid-load, requests in flight
            proc.wait()
            stop.set()
            for t in threads:
                t.join()
            print(f"cycle {cycle}: {len(ledger.keys)} keys, {len(ledger.ciphertexts)} ciphertexts, "
                  f"{ledger.rotations} rotations, {len(ledger.deleting)} pending deletions", flush=True)
        proc, host = start_server(data_dir)
        checked, total = verify(host, ledger, 0, cancel_deletions=True)
        proc.terminate()
        proc.wait()
    print(f"soak: OK: {args.cycles} SIGKILLs in {time.monotonic() - started:.0f} s; "
          f"{len(ledger.keys)} keys ({len(ledger.deleting)} scheduled for deletion), "
          f"{ledger.rotations} rotations and {total} ciphertexts acknowledged; all keys present "
          f"in their acknowledged state and all {checked} ciphertexts decrypt")


if __name__ == "__main__":
    main()
