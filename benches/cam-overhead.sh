#!/usr/bin/env bash
# What CAM policy evaluation costs `tkms serve`: Encrypt req/s at 64 keep-alive connections,
# (a) as the root without --config (no policy evaluated; the audit trail is on in both) and
# (b) as a sub-user with 50 statements attached (25 deny statements on Encrypt whose tag
# conditions must be checked and fail, 24 allows for other actions, 1 allow for Encrypt), so
# every call looks the key up and walks all 50. Runs alternate a/b to share the machine's
# noise. Results: docs/performance.md ("tkms serve").
#
#   benches/cam-overhead.sh [seconds-per-run] [rounds]
#
# TKMS_BIN=/path/to/tkms serves with that binary instead of a release build of this checkout.
# A load run with any failed request, or a server that does not start, stops the script with a
# non-zero exit naming the command.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
SECONDS_PER_RUN="${1:-10}"
ROUNDS="${2:-3}"

must cargo build --quiet --release -p tkms-benches --bin serve_load
LOAD=target/release/serve_load
TKMS=$(tkms_bin "$PWD")

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

ROOT_ID=AKIDBENCH00000000000000000000000000000
ROOT_KEY=benchsecretkey000000000000000000
USER_ID=AKIDBENCHUSER000000000000000000000000
USER_KEY=benchusersecretkey00000000000000

# 50 statements: 25 denies that match Encrypt and key/* but whose tag condition fails, 24
# allows for other actions, then the allow that grants Encrypt (and CreateKey for the setup).
statements=""
for i in $(seq 1 25); do
    statements+="{\"effect\":\"deny\",\"action\":[\"kms:Encrypt\",\"kms:Decrypt\"],\"resource\":\"qcs::kms:ap-guangzhou:uin/100000000001:key/*\",\"condition\":{\"string_equal\":{\"qcs:resource_tag/blocked\":[\"b$i\"]}}},"
done
for i in $(seq 1 24); do
    statements+="{\"effect\":\"allow\",\"action\":[\"kms:Describe*\",\"kms:GetKeyRotationStatus\"],\"resource\":\"qcs::kms:ap-guangzhou:uin/100000000001:key/$i*\",\"condition\":{\"ip_equal\":{\"qcs:ip\":\"10.$i.0.0/16\"}}},"
done
statements+="{\"effect\":\"allow\",\"action\":[\"kms:Encrypt\",\"kms:CreateKey\"],\"resource\":\"qcs::kms:ap-guangzhou:uin/100000000001:key/*\"}"
cat > "$work/cam.toml" <<TOML
[policies]
fifty = '{"version":"2.0","statement":[$statements]}'

[[accounts]]
uin = 100000000001

[[users]]
name = "bench"
account = 100000000001
kind = "sub_user"
secret_id = "$USER_ID"
secret_key = "$USER_KEY"
policies = ["fifty"]
TOML

start() { # name, extra args...
    local name=$1; shift
    TENCENTCLOUD_SECRET_ID=$ROOT_ID TENCENTCLOUD_SECRET_KEY=$ROOT_KEY \
        "$TKMS" serve --listen 127.0.0.1:0 --data-dir "$work/$name" "$@" > "$work/$name.out" 2> "$work/$name.err" &
    pids+=($!)
    for _ in $(seq 100); do grep -q '^listening on' "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
    sed -n 's|^listening on http://||p' "$work/$name.out"
}
PLAIN_ADDR=$(start plain)
CAM_ADDR=$(start cam --config "$work/cam.toml")
[ -n "$PLAIN_ADDR" ] && [ -n "$CAM_ADDR" ] || { cat "$work"/*.err >&2; die "$TKMS serve did not start"; }

echo "# $(date -u +%FT%TZ) $(nproc) cores; ${SECONDS_PER_RUN}s per run, $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
    echo "## round $round: root, no --config"
    TENCENTCLOUD_SECRET_ID=$ROOT_ID TENCENTCLOUD_SECRET_KEY=$ROOT_KEY \
        must "$LOAD" --seconds "$SECONDS_PER_RUN" --target tkms --addr "$PLAIN_ADDR" --action Encrypt --connections 64
    echo "## round $round: sub-user, 50 statements"
    TENCENTCLOUD_SECRET_ID=$USER_ID TENCENTCLOUD_SECRET_KEY=$USER_KEY \
        must "$LOAD" --seconds "$SECONDS_PER_RUN" --target tkms --addr "$CAM_ADDR" --action Encrypt --connections 64
done
# Every call of the CAM server was judged and recorded: show the trail's totals.
sleep 1
echo "## audit rows (sub-user server): $("$TKMS" audit --data-dir "$work/cam" --output jsonl | wc -l)"
