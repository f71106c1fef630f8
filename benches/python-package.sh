#!/usr/bin/env bash
# The Python package against the cryptography package and the tkms binary (docs/performance.md):
#
#   benches/python-package.sh [GiB] [rounds]
#
# Builds the release wheel (maturin build --release) and the release binary, installs the wheel
# and cryptography into target/python-bench/venv, and runs benches/python-package.py.
set -euo pipefail
cd "$(dirname "$0")/.."
gib="${1:-1}"
rounds="${2:-3}"

venv=target/python-bench/venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.9.4,<2" "cryptography>=42"
(cd python && "../$venv/bin/maturin" build --quiet --release --out ../target/python-bench/wheels)
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    target/python-bench/wheels/tkms-*-cp39-abi3-*.whl
cargo build --quiet --release -p tkms
exec "$venv/bin/python" benches/python-package.py --binary target/release/tkms \
    --gib "$gib" --rounds "$rounds" --work target/python-bench
