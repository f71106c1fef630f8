#!/usr/bin/env bash
# Conformance: the official Tencent Cloud Node.js SDK (npm tencentcloud-sdk-nodejs) against
# `tkms serve`.
#
#   scripts/node-conformance.sh [test files...]      (default: every tests/node/test/*.test.js)
#   scripts/node-conformance.sh --check-node         (exit 0 when node and npm are recent enough)
#
# Installs tests/node's locked packages with `npm ci`, builds the tkms binary, and runs the
# suite with node's own test runner. TKMS_SERVE_CMD overrides the server command (default
# target/debug/tkms serve); each test file starts one with --listen 127.0.0.1:0
# --test-controls --data-dir <fresh tmp dir> (tests/node/lib/harness.js).
set -euo pipefail
cd "$(dirname "$0")/.."

# node >= 20.11: the test runner with --test-timeout, fetch, and the keep-alive global agent.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "scripts/node-conformance.sh: node (>= 20.11) and npm are required (CI machines have them)" >&2
    exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 11) ? 0 : 1)'; then
    echo "scripts/node-conformance.sh: node $(node --version) is too old; the suite needs node >= 20.11" >&2
    exit 1
fi
# .ci/run asks only whether this machine can run the suite (and installs node if not).
if [ "${1:-}" = --check-node ]; then exit 0; fi

# `npm ci` always starts from an empty node_modules (about 15 s here); skip it when the lockfile
# is the one installed last time. A fresh CI machine always installs.
installed=tests/node/node_modules/.installed-package-lock.json
if ! cmp -s tests/node/package-lock.json "$installed"; then
    npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
    cp tests/node/package-lock.json "$installed"
fi

if [ -z "${TKMS_SERVE_CMD:-}" ]; then
    cargo build --quiet -p tkms
fi

cd tests/node
if [ "$#" -eq 0 ]; then set -- test/*.test.js; fi
# The runner and every `tkms serve` it starts get a process group of their own, and the data
# directories a temporary directory of their own: both are ended on the way out whatever
# happens (a test file killed from outside cannot stop its server itself).
TMPDIR="$(mktemp -d -t tkms-node-conformance.XXXXXX)"
export TMPDIR
runner=
trap '[ -z "$runner" ] || kill -- -"$runner" 2>/dev/null || true; rm -rf "$TMPDIR"' EXIT
setsid node --test --test-timeout=60000 --test-reporter=spec "$@" &
runner=$!
trap 'exit 130' INT TERM
wait "$runner"
