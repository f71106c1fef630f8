#!/usr/bin/env bash
# SM4-GCM of tkms-sm4 (every backend this CPU has) against `openssl speed -evp sm4-ctr`
# (OpenSSL 3.0 has no SM4-GCM), libgcrypt's SM4-GCM and AES-256-GCM (aws-lc-rs), all at
# 1 MiB and all in CPU time, in one run. Usage: benches/sm4-vs-openssl.sh [seconds]
#
# Times library code through `cargo bench`, not a tkms binary, so TKMS_BIN does not apply. A
# command that fails or prints no figure stops the script with a non-zero exit naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
secs="${1:-3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
OUT_FILE="$tmp/out"

echo "== openssl speed -evp sm4-ctr -bytes 1048576 -seconds $secs ($(openssl version | cut -d' ' -f1-2))"
capture openssl speed -evp sm4-ctr -bytes 1048576 -seconds "$secs"
openssl_mbs="$(awk '/^SM4-CTR/ { sub(/k$/, "", $2); printf "%.1f", $2 / 1000 }' "$OUT_FILE")"
[ -n "$openssl_mbs" ] || die "no SM4-CTR figure from: openssl speed -evp sm4-ctr"
echo "SM4-CTR (OpenSSL): $openssl_mbs MB/s"

gcrypt_mbs=""
if command -v cc >/dev/null && [ -f /usr/include/gcrypt.h ]; then
    echo "== libgcrypt SM4-GCM (benches/sm4-gcrypt.c)"
    must cc -O2 benches/sm4-gcrypt.c -lgcrypt -o "$tmp/sm4-gcrypt"
    capture "$tmp/sm4-gcrypt"
    gcrypt_mbs="$(cat "$OUT_FILE")"
    [[ "$gcrypt_mbs" =~ ^[0-9.]+$ ]] || die "no figure from: $tmp/sm4-gcrypt"
    echo "SM4-GCM (libgcrypt $(dpkg-query -W -f='${Version}' libgcrypt20 2>/dev/null || echo '?')): $gcrypt_mbs MB/s"
else
    echo "== libgcrypt: skipped (no cc or libgcrypt20-dev)"
fi

echo "== cargo bench -p tkms-sm4 --bench sm4 -- 1048576 (criterion, thread CPU time)"
capture cargo bench -p tkms-sm4 --bench sm4 -- --noplot --measurement-time "$secs" 1048576
awk '/^sm4-gcm\// { name = $1 }
         /thrpt:/ && $2 ~ /^\[[0-9]/ { v = $4; u = $5
             if (u ~ /^GiB/) v *= 1073.741824; else if (u ~ /^MiB/) v *= 1.048576
             printf "%s %.1f\n", name, v }' "$OUT_FILE" >"$tmp/ours"
[ -s "$tmp/ours" ] || die "no figures from: cargo bench -p tkms-sm4 --bench sm4"

printf '\n%-46s %10s %12s %12s\n' "1 MiB, one core, CPU time" "MB/s" "x openssl" "x libgcrypt"
row() {
    local ratio_o ratio_g
    ratio_o="$(awk -v a="$2" -v b="$openssl_mbs" 'BEGIN { printf "%.1f", a / b }')"
    ratio_g="-"
    [ -n "$gcrypt_mbs" ] && ratio_g="$(awk -v a="$2" -v b="$gcrypt_mbs" 'BEGIN { printf "%.1f", a / b }')"
    printf '%-46s %10s %12s %12s\n' "$1" "$2" "$ratio_o" "$ratio_g"
}
row "openssl sm4-ctr (no GCM)" "$openssl_mbs"
[ -n "$gcrypt_mbs" ] && row "libgcrypt sm4-gcm" "$gcrypt_mbs"
while read -r name mbs; do
    row "${name#sm4-gcm/}" "$mbs"
done <"$tmp/ours"
