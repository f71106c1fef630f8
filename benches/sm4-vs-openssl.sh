#!/usr/bin/env bash
# SM4-GCM of tkms-sm4 (every backend this CPU has) against `openssl speed -evp sm4-ctr`
# (OpenSSL 3.0 has no SM4-GCM), libgcrypt's SM4-GCM and AES-256-GCM (aws-lc-rs), all at
# 1 MiB and all in CPU time, in one run. Usage: benches/sm4-vs-openssl.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== openssl speed -evp sm4-ctr -bytes 1048576 -seconds $secs ($(openssl version | cut -d' ' -f1-2))"
openssl_mbs="$(openssl speed -evp sm4-ctr -bytes 1048576 -seconds "$secs" 2>/dev/null |
    awk '/^SM4-CTR/ { sub(/k$/, "", $2); printf "%.1f", $2 / 1000 }')"
echo "SM4-CTR (OpenSSL): $openssl_mbs MB/s"

gcrypt_mbs=""
if command -v cc >/dev/null && [ -f /usr/include/gcrypt.h ]; then
    echo "== libgcrypt SM4-GCM (benches/sm4-gcrypt.c)"
    cc -O2 benches/sm4-gcrypt.c -lgcrypt -o "$tmp/sm4-gcrypt"
    gcrypt_mbs="$("$tmp/sm4-gcrypt")"
    echo "SM4-GCM (libgcrypt $(dpkg-query -W -f='${Version}' libgcrypt20 2>/dev/null || echo '?')): $gcrypt_mbs MB/s"
else
    echo "== libgcrypt: skipped (no cc or libgcrypt20-dev)"
fi

echo "== cargo bench -p tkms-sm4 --bench sm4 -- 1048576 (criterion, thread CPU time)"
cargo bench -p tkms-sm4 --bench sm4 -- --noplot --measurement-time "$secs" 1048576 2>/dev/null |
    awk '/^sm4-gcm\// { name = $1 }
         /thrpt:/ && $2 ~ /^\[[0-9]/ { v = $4; u = $5
             if (u ~ /^GiB/) v *= 1073.741824; else if (u ~ /^MiB/) v *= 1.048576
             printf "%s %.1f\n", name, v }' >"$tmp/ours"

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
