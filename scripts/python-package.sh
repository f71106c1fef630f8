#!/usr/bin/env bash
# The Python package (python/, docs/python.md), tested as users get it:
#
#   scripts/python-package.sh [pytest args...]
#
# Makes a fresh virtual environment, `pip install ./python` (maturin builds the extension),
# installs python/tests/requirements.txt from PyPI, builds the `tkms` binary the suite compares
# against, and runs python/tests, which import only the installed package.
#
# TKMS_PY_PROFILE picks the cargo profile of the extension (default `dev`: its dependencies are
# optimised, see Cargo.toml, and it reuses the build `cargo test` just made; `release` is what a
# plain `pip install ./python` builds, and what the benchmark needs).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-package/venv
rm -rf "$venv"
mkdir -p target/python-package
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r python/tests/requirements.txt
MATURIN_PEP517_ARGS="--profile ${TKMS_PY_PROFILE:-dev}" \
    "$venv/bin/pip" install --quiet --disable-pip-version-check ./python

cargo build --quiet -p tkms
export TKMS_BINARY="$PWD/target/debug/tkms"
if [ "$#" -eq 0 ]; then set -- python/tests; fi
# Run from outside the source tree: `import tkms` must find the installed package.
cd target/python-package
args=()
for arg in "$@"; do
    case "$arg" in
        python/*) args+=("../../$arg") ;;
        *) args+=("$arg") ;;
    esac
done
exec "$PWD/venv/bin/python" -m pytest -q -p no:cacheprovider "${args[@]}"
