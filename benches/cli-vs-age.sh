#!/usr/bin/env bash
# tkms CLI vs age on the same file in the same run: wall time and peak memory of encrypt and
# decrypt to /dev/null, best of RUNS. Prints a table and the age/tkms time ratios.
#
#   benches/cli-vs-age.sh [SIZE_MIB] [RUNS]      (defaults: 1024 MiB, 3 runs)
#
# Needs: age and age-keygen (Debian package `age`), GNU time at /usr/bin/time (package `time`),
# openssl. Builds tkms in release mode. Results go to docs/performance.md, "tkms CLI".
set -euo pipefail

size_mib=${1:-1024}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)

for tool in age age-keygen /usr/bin/time openssl; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y age time openssl" >&2; exit 1; }
done

cargo build --release -p tkms --manifest-path "$root/Cargo.toml" >&2
tkms="$root/target/release/tkms"

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

# best "<seconds> <peak KiB>" of $runs runs of "$@" (stdout to /dev/null)
measure() {
    local best_t="" best_m=""
    for _ in $(seq "$runs"); do
        local out
        out=$( { /usr/bin/time -f '%e %M' "$@" > /dev/null; } 2>&1 | tail -n 1 )
        local t=${out% *} m=${out#* }
        if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
        if [ -z "$best_m" ] || [ "$m" -gt "$best_m" ]; then best_m=$m; fi
    done
    echo "$best_t $best_m"
}

# Prepare ciphertexts (outside the timings).
age -r "$age_recipient" -o "$work/plain.age" "$work/plain"
"$tkms" encrypt "$work/plain" -o "$work/plain.aes.tkms"                         # embedded default key
"$tkms" encrypt --suite sm4gcm "$work/plain" -o "$work/plain.sm4.tkms"
"$tkms" encrypt --recipient "$work/rsa.pub" "$work/plain" -o "$work/plain.rsa.tkms"

declare -A T M
row() { # name, command...
    local name=$1; shift
    read -r T[$name] M[$name] < <(measure "$@")
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
printf '%-34s %9s %9s %11s %12s\n' "command ($size_mib MiB, to /dev/null)" seconds MiB/s "peak MiB" "age/tkms"
for name in age-enc age-dec tkms-aes-enc tkms-aes-dec tkms-sm4-enc tkms-sm4-dec tkms-rsa-enc tkms-rsa-dec; do
    case $name in
        age-*) r="" ;;
        *-enc) r=$(ratio "${T[age-enc]}" "${T[$name]}") ;;
        *-dec) r=$(ratio "${T[age-dec]}" "${T[$name]}") ;;
    esac
    printf '%-34s %9s %9s %11s %12s\n' "$name" "${T[$name]}" "$(mbps "${T[$name]}")" \
        "$(awk "BEGIN{printf \"%.1f\", ${M[$name]} / 1024}")" "$r"
done
