#!/usr/bin/env bash
# tkms CLI vs age on the same file in the same run: wall time and peak memory of encrypt and
# decrypt to /dev/null, best of RUNS. Prints a table and the age/tkms time ratios.
#
#   benches/cli-vs-age.sh [SIZE_MIB] [RUNS]      (defaults: 1024 MiB, 3 runs)
#
# Needs: age and age-keygen (Debian package `age`), GNU time at /usr/bin/time (package `time`),
# openssl. Builds tkms in release mode, or times TKMS_BIN=/path/to/tkms when set. Results go to
# docs/performance.md, "tkms CLI".
#
# A timed command that fails, or whose output (checked on the first run of each row: the
# plaintext back, or a ciphertext that decrypts to it) is wrong, stops the script with a
# non-zero exit naming the command: no failed run is ever reported as a time.
set -euo pipefail

size_mib=${1:-1024}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/lib.sh
. "$root/benches/lib.sh"

for tool in age age-keygen /usr/bin/time openssl; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y age time openssl" >&2; exit 1; }
done

tkms=$(tkms_bin "$root")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TKMS_DATA_DIR="$work/tkms-data"
unset TKMS_ENDPOINT

echo "input: $size_mib MiB of random bytes; best of $runs runs; $(nproc) cores" >&2
head -c "$((size_mib << 20))" /dev/urandom > "$work/plain"
age-keygen -o "$work/age.key" 2>/dev/null
age_recipient=$(age-keygen -y "$work/age.key")
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.key" 2>/dev/null
openssl pkey -in "$work/rsa.key" -pubout -out "$work/rsa.pub"

plain_sha=$(sha256sum < "$work/plain")

# Dies unless the file $2 (row $1's output) is the plaintext, or a ciphertext that decrypts to it.
check_output() {
    local name=$1 out=$2 got
    case $name in
        age-enc) got=$(age -d -i "$work/age.key" "$out" | sha256sum) ;;
        tkms-rsa-enc) got=$("$tkms" decrypt --identity "$work/rsa.key" "$out" | sha256sum) ;;
        tkms-*-enc) got=$("$tkms" decrypt "$out" | sha256sum) ;;
        *) got=$(sha256sum < "$out") ;;
    esac
    [ "$got" = "$plain_sha" ] || die "wrong output from row $name"
}

# "<best wall seconds> <peak KiB> <best user+sys CPU seconds>" of $runs runs of row $1's command
# "${@:2}". The first run's stdout is checked (check_output), the others go to /dev/null. CPU time
# is reported too because wall time on a shared machine includes waiting for a core.
measure() {
    local name=$1; shift
    local best_t="" best_m="" best_c="" out="$work/out"
    for _ in $(seq "$runs"); do
        local t m u s c rc=0
        /usr/bin/time -o "$work/time" -f '%e %M %U %S' "$@" > "$out" || rc=$?
        [ "$rc" -eq 0 ] || die "timed command failed (exit $rc): $*"
        if [ "$out" != /dev/null ]; then check_output "$name" "$out"; out=/dev/null; fi
        read -r t m u s < <(tail -n 1 "$work/time")
        c=$(awk "BEGIN{print $u + $s}")
        if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
        if [ -z "$best_c" ] || awk "BEGIN{exit !($c < $best_c)}"; then best_c=$c; fi
        if [ -z "$best_m" ] || [ "$m" -gt "$best_m" ]; then best_m=$m; fi
    done
    echo "$best_t $best_m $best_c"
}

# Prepare ciphertexts (outside the timings).
must age -r "$age_recipient" -o "$work/plain.age" "$work/plain"
must "$tkms" encrypt "$work/plain" -o "$work/plain.aes.tkms"                    # embedded default key
must "$tkms" encrypt --suite sm4gcm "$work/plain" -o "$work/plain.sm4.tkms"
must "$tkms" encrypt --recipient "$work/rsa.pub" "$work/plain" -o "$work/plain.rsa.tkms"

declare -A T M C
row() { # name, command...
    local name=$1 result
    # Not `read < <(measure ...)`: a process substitution drops measure's exit status.
    result=$(measure "$@") || exit 1
    read -r T[$name] M[$name] C[$name] <<< "$result"
}
row age-enc        age -r "$age_recipient" "$work/plain"
row age-dec        age -d -i "$work/age.key" "$work/plain.age"
row tkms-aes-enc   "$tkms" encrypt "$work/plain"
row tkms-aes-dec   "$tkms" decrypt "$work/plain.aes.tkms"
row tkms-sm4-enc   "$tkms" encrypt --suite sm4gcm "$work/plain"
row tkms-sm4-dec   "$tkms" decrypt "$work/plain.sm4.tkms"
row tkms-rsa-enc   "$tkms" encrypt --recipient "$work/rsa.pub" "$work/plain"
row tkms-rsa-dec   "$tkms" decrypt --identity "$work/rsa.key" "$work/plain.rsa.tkms"

mbps() { awk "BEGIN{printf \"%.0f\", $size_mib / $1}"; }
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %9s %8s %10s %9s %10s %10s\n' "($size_mib MiB)" "wall s" "MiB/s" "peak MiB" "CPU s" "age/tkms" "age/tkms"
printf '%-14s %9s %8s %10s %9s %10s %10s\n' "" "" "" "" "" "wall" "CPU"
for name in age-enc age-dec tkms-aes-enc tkms-aes-dec tkms-sm4-enc tkms-sm4-dec tkms-rsa-enc tkms-rsa-dec; do
    case $name in
        age-*) rw=""; rc="" ;;
        *-enc) rw=$(ratio "${T[age-enc]}" "${T[$name]}"); rc=$(ratio "${C[age-enc]}" "${C[$name]}") ;;
        *-dec) rw=$(ratio "${T[age-dec]}" "${T[$name]}"); rc=$(ratio "${C[age-dec]}" "${C[$name]}") ;;
    esac
    printf '%-14s %9s %8s %10s %9s %10s %10s\n' "$name" "${T[$name]}" "$(mbps "${T[$name]}")" \
        "$(awk "BEGIN{printf \"%.1f\", ${M[$name]} / 1024}")" "${C[$name]}" "$rw" "$rc"
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
