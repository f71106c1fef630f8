#!/usr/bin/env bash
# mock-hsm asymmetric decryption beside OpenSSL's own RSA-2048 and SM2 private-key speed.
# Usage: benches/hsm-vs-openssl.sh [seconds]   (run from the repository root)
set -euo pipefail
secs="${1:-3}"
cd "$(dirname "$0")/.."

echo "== mock-hsm (in-process, JSON dispatch included) =="
cargo bench -q -p tkms-benches --bench hsm -- 'hsm/asymmetric' --measurement-time "$secs" 2>/dev/null \
  | grep -E '^hsm/asymmetric|thrpt:' | sed 's/^/  /'

echo
echo "== $(openssl version) =="
# RSA: a private-key 'sign' is the same modular exponentiation as a decryption.
# -elapsed: wall-clock rates, the same basis as criterion's (plain `openssl speed` divides by
# CPU time, which on a shared machine overstates it against a wall-clock benchmark).
openssl speed -elapsed -seconds "$secs" rsa2048 2>/dev/null | grep -E '^(rsa 2048|\s+sign)' | sed 's/^/  /'
openssl speed -elapsed -seconds "$secs" sm2 2>/dev/null | grep -E 'sm2|sign' | tail -3 | sed 's/^/  /'
