#!/usr/bin/env bash
# Post-quantum actions over HTTP beside RSA-2048 and SM2: req/s of PostQuantumCryptoEncrypt /
# Decrypt / Sign / Verify and of SignByAsymmetricKey / VerifyByAsymmetricKey with RSA-2048 and
# SM2 keys, against one `tkms serve` (TC3 verified on every request), every action once per
# round so each round's ratios compare runs made under the same background load.
# Results: docs/performance.md ("Post-quantum keys").
#
#   benches/pqc-http.sh [seconds-per-run] [rounds] [connections]
#
# TKMS_BIN=/path/to/tkms serves with that binary instead of a release build of this checkout.
# A load run with any failed request stops the script with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
SECONDS_PER_RUN="${1:-5}"
ROUNDS="${2:-3}"
CONNECTIONS="${3:-16}"

must cargo build --quiet --release -p tkms-benches --bin serve_load
LOAD=target/release/serve_load
TKMS=$(tkms_bin "$PWD")

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

export TENCENTCLOUD_SECRET_ID=AKIDBENCH00000000000000000000000000000
export TENCENTCLOUD_SECRET_KEY=benchsecretkey000000000000000000
"$TKMS" serve --listen 127.0.0.1:0 --data-dir "$work/tkms" > "$work/tkms.out" 2> "$work/tkms.err" &
pid=$!
for _ in $(seq 100); do grep -q '^listening on' "$work/tkms.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's|^listening on http://||p' "$work/tkms.out")
[ -n "$ADDR" ] || { cat "$work/tkms.err" >&2; die "$TKMS serve did not start"; }

ACTIONS=(
    PostQuantumCryptoEncrypt PostQuantumCryptoDecrypt PostQuantumCryptoSign PostQuantumCryptoVerify
    SignByAsymmetricKey/RSA_2048 VerifyByAsymmetricKey/RSA_2048
    SignByAsymmetricKey/SM2 VerifyByAsymmetricKey/SM2
)
echo "# $(date -u +%FT%TZ) $(nproc) cores; ${SECONDS_PER_RUN}s per run; $ROUNDS rounds; $CONNECTIONS connections"
for round in $(seq "$ROUNDS"); do
    line="round $round:"
    for action in "${ACTIONS[@]}"; do
        out=$(must "$LOAD" --addr "$ADDR" --target tkms --action "$action" \
            --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN")
        echo "$out" >&2
        line="$line $action=$(echo "$out" | sed -n 's/.* rps=\([0-9]*\) .*/\1/p')"
    done
    echo "$line"
done
