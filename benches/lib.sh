# Shared by the benches/*.sh scripts (sourced, not run): a benchmark must never record a failed
# or wrong run as a figure, so every timed or measuring command goes through these and a failure
# stops the script with a non-zero exit naming the command.

# The script's name, for messages.
bench_name=$(basename "$0")

# Prints the error and exits 1.
die() {
    echo "$bench_name: $*" >&2
    exit 1
}

# Runs "$@" with its stdout and stderr into the file $OUT_FILE; on a non-zero exit shows the
# output's tail and dies naming the command. For commands whose output is then parsed.
capture() {
    local rc=0
    "$@" > "$OUT_FILE" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$OUT_FILE" >&2
        die "command failed (exit $rc): $*"
    fi
}

# Runs "$@"; on a non-zero exit, dies naming the command and its exit status.
must() {
    local rc=0
    "$@" || rc=$?
    [ "$rc" -eq 0 ] || die "command failed (exit $rc): $*"
}

# The tkms binary to measure: $TKMS_BIN when set (checked to be executable), otherwise a fresh
# release build of this checkout. Prints the path.
tkms_bin() {
    local root=$1
    if [ -n "${TKMS_BIN:-}" ]; then
        [ -x "$TKMS_BIN" ] || die "TKMS_BIN=$TKMS_BIN is not an executable file"
        echo "$TKMS_BIN"
    else
        must cargo build --quiet --release -p tkms --manifest-path "$root/Cargo.toml" >&2
        echo "$root/target/release/tkms"
    fi
}
