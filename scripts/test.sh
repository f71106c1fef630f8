#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration, property, known-answer,
# OpenSSL interop, CLI) and, when present, the conformance suite that drives `tkms serve` with
# the official Tencent Cloud Python SDK and tccli (installed into .venv from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v openssl >/dev/null || { echo "scripts/test.sh: openssl is required by the interop tests" >&2; exit 1; }

cargo test --workspace --all-targets
cargo test --workspace --doc

if [ -x scripts/python-conformance.sh ]; then
    scripts/python-conformance.sh
fi
