#!/usr/bin/env bash
# tkms CLI vs age vs the copy limit (cat) on the same file in the same run: wall time, CPU time
# and peak memory of encrypt and decrypt, to /dev/null, to a file with -o, and through a pipe.
# Rows run in turn within each round (A B C ... A B C ...), RUNS rounds; medians are reported.
#
#   benches/cli-vs-age.sh [SIZE_MIB] [RUNS]      (defaults: 1024 MiB, 3 rounds; about 1-2 min)
#
# Needs: age and age-keygen (Debian package `age`), GNU time at /usr/bin/time (package `time`),
# openssl. Builds tkms in release mode, or times TKMS_BIN=/path/to/tkms when set. Files live in
# /dev/shm (tmpfs) when it exists, else in $TMPDIR, and are removed at the end. Results go to
# docs/performance.md, "tkms CLI".
#
# A timed command that fails, or whose output (checked on the first round of each row: the
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

if [ -d /dev/shm ] && [ -w /dev/shm ]; then work=$(mktemp -d -p /dev/shm); else work=$(mktemp -d); fi
trap 'rm -rf "$work"' EXIT
export TKMS_DATA_DIR="$work/tkms-data"
unset TKMS_ENDPOINT

echo "input: $size_mib MiB of random bytes in $work; median of $runs alternating rounds; $(nproc) cores" >&2
head -c "$((size_mib << 20))" /dev/urandom > "$work/plain"
age-keygen -o "$work/age.key" 2>/dev/null
age_recipient=$(age-keygen -y "$work/age.key")
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.key" 2>/dev/null
openssl pkey -in "$work/rsa.key" -pubout -out "$work/rsa.pub"

plain_sha=$(sha256sum < "$work/plain")

# Prepare ciphertexts (outside the timings).
must age -r "$age_recipient" -o "$work/plain.age" "$work/plain"
must "$tkms" encrypt "$work/plain" -o "$work/plain.aes.tkms"                    # embedded default key
must "$tkms" encrypt --suite sm4gcm "$work/plain" -o "$work/plain.sm4.tkms"
must "$tkms" encrypt --recipient "$work/rsa.pub" "$work/plain" -o "$work/plain.rsa.tkms"

# Rows: name, then the shell command. OUT is where the output goes: a file in $work on a
# row's first round (checked), /dev/null afterwards; for the -o rows always a fresh file in
# $work (the point of the row), removed before each run. Names: <what>-<where>, where "null" is
# stdout to /dev/null, "file" -o (or >) a file on the same filesystem, "pipe" through
# `| cat > /dev/null`.
P=$work/plain
names=() cmds=()
row() { names+=("$1"); cmds+=("$2"); }
row cat-null       "cat $P > \$OUT"
row age-enc-null   "age -r $age_recipient $P > \$OUT"
row tkms-enc-null  "$tkms encrypt $P > \$OUT"
row age-dec-null   "age -d -i $work/age.key $P.age > \$OUT"
row tkms-dec-null  "$tkms decrypt $P.aes.tkms > \$OUT"
row sm4-enc-null   "$tkms encrypt --suite sm4gcm $P > \$OUT"
row sm4-dec-null   "$tkms decrypt $P.sm4.tkms > \$OUT"
row rsa-enc-null   "$tkms encrypt --recipient $work/rsa.pub $P > \$OUT"
row rsa-dec-null   "$tkms decrypt --identity $work/rsa.key $P.rsa.tkms > \$OUT"
row cat-file       "cat $P > \$OUT"
row age-enc-file   "age -r $age_recipient -o \$OUT $P"
row tkms-enc-file  "$tkms encrypt $P -o \$OUT"
row age-dec-file   "age -d -i $work/age.key -o \$OUT $P.age"
row tkms-dec-file  "$tkms decrypt $P.aes.tkms -o \$OUT"
row cat-pipe       "cat $P | cat > \$OUT"
row age-enc-pipe   "age -r $age_recipient $P | cat > \$OUT"
row tkms-enc-pipe  "$tkms encrypt $P | cat > \$OUT"
row age-dec-pipe   "age -d -i $work/age.key $P.age | cat > \$OUT"
row tkms-dec-pipe  "$tkms decrypt $P.aes.tkms | cat > \$OUT"

# Dies unless the file $2 (row $1's output) is the plaintext, or a ciphertext that decrypts to it.
check_output() {
    local name=$1 out=$2 got
    case $name in
        age-enc-*) got=$(age -d -i "$work/age.key" "$out" | sha256sum) ;;
        rsa-enc-*) got=$("$tkms" decrypt --identity "$work/rsa.key" "$out" | sha256sum) ;;
        *-enc-*) got=$("$tkms" decrypt "$out" | sha256sum) ;;
        *) got=$(sha256sum < "$out") ;;
    esac
    [ "$got" = "$plain_sha" ] || die "wrong output from row $name"
}

# Runs row $1 once; appends "wall peak_kib cpu" to $work/r.$1.
run_row() {
    local i=$1 round=$2 name=${names[$1]} out rc=0
    out=/dev/null
    if [ "$round" -eq 1 ] || [[ $name == *-file ]]; then out=$work/out; rm -f "$out"; fi
    OUT=$out /usr/bin/time -o "$work/time" -f '%e %M %U %S' bash -c "${cmds[$i]}" || rc=$?
    [ "$rc" -eq 0 ] || die "timed command failed (exit $rc): ${cmds[$i]}"
    [ "$round" -ne 1 ] || check_output "$name" "$out"
    rm -f "$work/out"
    tail -n 1 "$work/time" | awk '{print $1, $2, $3 + $4}' >> "$work/r.$i"
}

echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$runs"); do
    for i in "${!names[@]}"; do run_row "$i" "$round"; done
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# Median of column $2 of file $1; peak memory: the largest.
median() { sort -g -k"$2,$2" "$1" | awk -v c="$2" '{v[NR]=$c} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
declare -A T C M
for i in "${!names[@]}"; do
    T[${names[$i]}]=$(median "$work/r.$i" 1)
    C[${names[$i]}]=$(median "$work/r.$i" 3)
    M[${names[$i]}]=$(sort -g -k2,2 "$work/r.$i" | tail -n 1 | awk '{printf "%.1f", $2 / 1024}')
done

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
printf '%-14s %8s %7s %9s %7s %9s %9s\n' "($size_mib MiB)" "wall s" "MiB/s" "peak MiB" "CPU s" "age/this" "this/cat"
for name in "${names[@]}"; do
    where=${name##*-}
    case $name in
        cat-*|age-*) vs_age="" ;;
        *-enc-*) vs_age=$(ratio "${T[age-enc-$where]}" "${T[$name]}") ;;
        *-dec-*) vs_age=$(ratio "${T[age-dec-$where]}" "${T[$name]}") ;;
    esac
    vs_cat=""
    [[ $name == cat-* ]] || vs_cat=$(ratio "${T[$name]}" "${T[cat-$where]}")
    printf '%-14s %8s %7s %9s %7s %9s %9s\n' "$name" "${T[$name]}" \
        "$(awk "BEGIN{printf \"%.0f\", $size_mib / ${T[$name]}}")" "${M[$name]}" "${C[$name]}" \
        "$vs_age" "$vs_cat"
done
