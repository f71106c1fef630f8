#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ briefly (not part of the test command):
#
#   scripts/fuzz-smoke.sh [SECONDS]     (default 30 per target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The toolchain is stable, so RUSTC_BOOTSTRAP=1
# lets cargo-fuzz use its nightly flags. Seeds come from fuzz/seeds/TARGET; findings land in
# fuzz/artifacts/TARGET and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
if ! cargo fuzz --help >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is missing; install it with: cargo install cargo-fuzz" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1
for target in cam_policy envelope_header kms_request; do
    mkdir -p "corpus/$target"
    echo "fuzz-smoke: $target for ${seconds}s"
    cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=4096
done
