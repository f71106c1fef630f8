#!/usr/bin/env bash
# mock-hsm asymmetric decryption beside OpenSSL's own RSA-2048 and SM2 private-key speed.
# Usage: benches/hsm-vs-openssl.sh [seconds]   (run from the repository root)
#
# Times library code through `cargo bench`, not a tkms binary, so TKMS_BIN does not apply. A
# command that fails or prints no figure stops the script with a non-zero exit naming it.
set -euo pipefail
secs="${1:-3}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
OUT_FILE=$(mktemp)
trap 'rm -f "$OUT_FILE"' EXIT

# Runs "$@" and prints the lines of its output that match PATTERN, indented; dies if the command
# failed or nothing matched.
figures() { # pattern, command...
    local pattern=$1; shift
    capture "$@"
    grep -E "$pattern" "$OUT_FILE" | sed 's/^/  /' || die "no figures in the output of: $*"
}

echo "== mock-hsm (in-process, JSON dispatch included) =="
figures '^hsm/asymmetric|thrpt:' cargo bench -q -p tkms-benches --bench hsm -- 'hsm/asymmetric' --measurement-time "$secs"

echo
echo "== $(openssl version) =="
# RSA: a private-key 'sign' is the same modular exponentiation as a decryption.
# -elapsed: wall-clock rates, the same basis as criterion's (plain `openssl speed` divides by
# CPU time, which on a shared machine overstates it against a wall-clock benchmark).
figures '^(rsa 2048|\s+sign)' openssl speed -elapsed -seconds "$secs" rsa2048
figures 'sm2|sign' openssl speed -elapsed -seconds "$secs" sm2
