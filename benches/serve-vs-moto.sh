#!/usr/bin/env bash
# tkms serve vs moto's KMS server: Encrypt and GenerateDataKey req/s and p99 at 64 keep-alive
# connections (tkms verifies every TC3 signature, skew check on), a no-op route as the HTTP
# ceiling, and 1,000 concurrent connections without errors. Results: docs/performance.md.
#
#   benches/serve-vs-moto.sh [seconds-per-run] [rounds]
#
# Each round runs the no-op route, Encrypt and GenerateDataKey back to back, so every ratio
# compares runs made under the same background load; the summary gives each round's ratios.
#
# TKMS_BIN=/path/to/tkms serves with that binary instead of a release build of this checkout;
# TKMS_SERVE_CMD overrides the whole server command (default "$TKMS_BIN serve"). A load run
# with any failed request, or a server that does not start, stops the script with a non-zero
# exit naming the command: no failed run is reported as a rate.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
SECONDS_PER_RUN="${1:-10}"
ROUNDS="${2:-3}"

must cargo build --quiet --release -p tkms-benches --bin serve_load
LOAD=target/release/serve_load
if [ -z "${TKMS_SERVE_CMD:-}" ]; then
    TKMS_SERVE_CMD="$(tkms_bin "$PWD") serve"
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

export TENCENTCLOUD_SECRET_ID=AKIDBENCH00000000000000000000000000000
export TENCENTCLOUD_SECRET_KEY=benchsecretkey000000000000000000
# shellcheck disable=SC2086
$TKMS_SERVE_CMD --listen 127.0.0.1:0 --data-dir "$work/tkms" > "$work/tkms.out" 2> "$work/tkms.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$work/tkms.out" 2>/dev/null && break; sleep 0.1; done
TKMS_ADDR=$(sed -n 's|^listening on http://||p' "$work/tkms.out")
[ -n "$TKMS_ADDR" ] || { cat "$work/tkms.err" >&2; die "$TKMS_SERVE_CMD did not start"; }

if [ ! -x .venv/bin/python ]; then must python3 -m venv .venv; fi
if [ ! -x .venv/bin/moto_server ]; then must .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]'; fi

MOTO_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$MOTO_PORT/" > /dev/null 2>&1 && break; sleep 0.2; done
MOTO_KEY=$(AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing .venv/bin/python -c "
import boto3
kms = boto3.client('kms', region_name='us-east-1', endpoint_url='http://127.0.0.1:$MOTO_PORT')
print(kms.create_key()['KeyMetadata']['KeyId'])") || die "moto did not create a key"
[ -n "$MOTO_KEY" ] || die "moto did not create a key"

echo "# $(date -u +%FT%TZ) $(nproc) cores; ${SECONDS_PER_RUN}s per run; $ROUNDS rounds"
run() { must "$LOAD" --seconds "$SECONDS_PER_RUN" "$@"; }
rps() { sed -n 's/.* rps=\([0-9]*\) .*/\1/p'; }
summary=()
for round in $(seq "$ROUNDS"); do
    noop=$(run --target noop --addr "$TKMS_ADDR" --connections 64 | tee /dev/stderr | rps)
    enc=$(run --target tkms --addr "$TKMS_ADDR" --action Encrypt --connections 64 | tee /dev/stderr | rps)
    gdk=$(run --target tkms --addr "$TKMS_ADDR" --action GenerateDataKey --connections 64 | tee /dev/stderr | rps)
    if [ "${noop:-0}" -gt 0 ]; then
        summary+=("round $round: Encrypt/no-op = $((100 * ${enc:-0} / noop)) %, GenerateDataKey/no-op = $((100 * ${gdk:-0} / noop)) %")
    else
        summary+=("round $round: the no-op run failed")
    fi
done 2>&1
run --target moto --addr "127.0.0.1:$MOTO_PORT" --action Encrypt --key-id "$MOTO_KEY" --connections 64
run --target moto --addr "127.0.0.1:$MOTO_PORT" --action GenerateDataKey --key-id "$MOTO_KEY" --connections 64
ulimit -n 4096 2>/dev/null || true
run --target tkms --addr "$TKMS_ADDR" --action Encrypt --connections 1000
printf '%s\n' "${summary[@]}"
