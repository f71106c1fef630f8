#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration, property, known-answer,
# OpenSSL interop, CLI) and, when present, the conformance suite that drives `tkms serve` with
# the official Tencent Cloud Python SDK and tccli (installed into .venv from PyPI), the one that
# drives it with the official Node.js SDK (installed into tests/node from npm), and the Python
# package python/ built with pip into a fresh virtual environment (docs/python.md).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v openssl >/dev/null || { echo "scripts/test.sh: openssl is required by the interop tests" >&2; exit 1; }
# Checked first, not skipped: a machine without node would otherwise pass without the Node SDK suite.
command -v node >/dev/null && command -v npm >/dev/null \
    || { echo "scripts/test.sh: node (>= 20.11) and npm are required by scripts/node-conformance.sh" >&2; exit 1; }

# tkms-python is the Python extension: its tests are the Python suite below, run on the
# installed package (and linking it outside maturin would need a shared libpython).
cargo test --workspace --exclude tkms-python --all-targets
cargo test --workspace --exclude tkms-python --doc
# kms-core alone, transport-free (default = []): no tokio, reqwest or hyper, and no feature that
# another crate of the workspace turns on.
cargo build -p kms-core --no-default-features
cargo test -p kms-core --no-default-features

if [ -x scripts/python-conformance.sh ]; then
    scripts/python-conformance.sh
fi
scripts/node-conformance.sh
scripts/python-package.sh
