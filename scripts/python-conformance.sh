#!/usr/bin/env bash
# Conformance: the official Tencent Cloud Python SDK and tccli against `tkms serve`.
#
#   scripts/python-conformance.sh [pytest args...]
#
# Makes .venv (once) with tests/python/requirements.txt from PyPI, builds the tkms binary,
# and runs tests/python. TKMS_SERVE_CMD overrides the server command (default
# target/debug/tkms serve); the suite adds --listen 127.0.0.1:0 --test-controls --data-dir.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import tencentcloud.kms, cryptography, gmssl, pytest' 2>/dev/null \
    || [ ! -x .venv/bin/tccli ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

if [ -z "${TKMS_SERVE_CMD:-}" ]; then
    cargo build --quiet -p tkms
fi

export PATH="$PWD/.venv/bin:$PATH"
if [ "$#" -eq 0 ]; then set -- tests/python; fi
exec .venv/bin/python -m pytest -q "$@"
