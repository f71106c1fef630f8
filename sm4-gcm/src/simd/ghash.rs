//! GHASH with carry-less multiplication, computed as POLYVAL (RFC 8452 Appendix A):
//! `GHASH(H, X) = rev(POLYVAL(mulX(rev(H)), rev(X₁), ...))` with `rev` the byte reversal.
//! POLYVAL's bit order matches PCLMULQDQ's, so a product needs no bit reflection, and
//! Montgomery reduction by x⁻¹²⁸ costs two multiplications by the constant 0xC2·x⁵⁶.
//! Blocks are multiplied by precomputed powers of H and summed unreduced (aggregated
//! reduction): one reduction per 8 blocks (PCLMULQDQ) or 16 blocks (VPCLMULQDQ).

use super::GhashKey;
use core::arch::x86_64::*;

/// Low qword 1, high qword x⁶³+x⁶²+x⁵⁷ (0xC2 << 56): the POLYVAL reduction constant.
const POLY: [u64; 2] = [1, 0xc200_0000_0000_0000];
/// `pshufb` mask reversing all 16 bytes.
const REVERSE: [u8; 16] = [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];

#[target_feature(enable = "sse2,ssse3")]
fn load16(bytes: &[u8; 16]) -> __m128i {
    // SAFETY: reads exactly the 16 bytes of the array; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

#[target_feature(enable = "sse2,ssse3")]
fn store16(v: __m128i) -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: writes exactly the 16 bytes of `out`.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) };
    out
}

/// Schoolbook 128×128 carry-less product: (low, middle, high) partial sums.
#[target_feature(enable = "pclmulqdq,sse2")]
fn mul(a: __m128i, b: __m128i) -> [__m128i; 3] {
    let lo = _mm_clmulepi64_si128::<0x00>(a, b);
    let hi = _mm_clmulepi64_si128::<0x11>(a, b);
    let mid = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x01>(a, b),
        _mm_clmulepi64_si128::<0x10>(a, b),
    );
    [lo, mid, hi]
}

#[target_feature(enable = "sse2")]
fn add3(acc: [__m128i; 3], p: [__m128i; 3]) -> [__m128i; 3] {
    [
        _mm_xor_si128(acc[0], p[0]),
        _mm_xor_si128(acc[1], p[1]),
        _mm_xor_si128(acc[2], p[2]),
    ]
}

/// Reduces a 256-bit product times x⁻¹²⁸ modulo the POLYVAL polynomial.
#[target_feature(enable = "pclmulqdq,sse2")]
fn reduce([lo, mid, hi]: [__m128i; 3]) -> __m128i {
    let poly = _mm_set_epi64x(POLY[1] as i64, POLY[0] as i64);
    let lo = _mm_xor_si128(lo, _mm_slli_si128::<8>(mid));
    let hi = _mm_xor_si128(hi, _mm_srli_si128::<8>(mid));
    let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    _mm_xor_si128(lo, hi)
}

/// `mulX_POLYVAL(rev(h))`, then its powers.
#[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
pub(super) fn key(h: &[u8; 16]) -> GhashKey {
    let mut rev = *h;
    rev.reverse();
    let v = u128::from_le_bytes(rev);
    let top = v >> 127;
    let hx = (v << 1) ^ top ^ (top << 127) ^ (top << 126) ^ (top << 121);
    let h1 = load16(&hx.to_le_bytes());
    let mut powers = [[0u8; 16]; 16];
    let mut p = h1;
    for i in (0..16).rev() {
        powers[i] = store16(p);
        p = reduce(mul(p, h1));
    }
    GhashKey { powers }
}

/// Absorbs whole 16-byte blocks one by one or eight at a time, then the padded tail.
#[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
fn absorb(key: &GhashKey, mut x: __m128i, data: &[u8]) -> __m128i {
    let rev = load16(&REVERSE);
    let block = |b: &[u8]| -> __m128i {
        let mut padded = [0u8; 16];
        padded[..b.len()].copy_from_slice(b);
        _mm_shuffle_epi8(load16(&padded), rev)
    };
    let mut eights = data.chunks_exact(128);
    for chunk in &mut eights {
        let mut acc = [_mm_setzero_si128(); 3];
        for (i, b) in chunk.chunks_exact(16).enumerate() {
            let mut v = block(b);
            if i == 0 {
                v = _mm_xor_si128(v, x);
            }
            acc = add3(acc, mul(v, load16(&key.powers[8 + i])));
        }
        x = reduce(acc);
    }
    let h1 = load16(&key.powers[15]);
    for b in eights.remainder().chunks(16) {
        x = reduce(mul(_mm_xor_si128(x, block(b)), h1));
    }
    x
}

/// GHASH update with 128-bit PCLMULQDQ.
#[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
pub(super) fn update(key: &GhashKey, acc: &mut [u8; 16], data: &[u8]) {
    let rev = load16(&REVERSE);
    let x = _mm_shuffle_epi8(load16(acc), rev);
    let x = absorb(key, x, data);
    *acc = store16(_mm_shuffle_epi8(x, rev));
}

/// GHASH update with VPCLMULQDQ: 16 blocks (four 512-bit vectors) per reduction.
#[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1,avx2,avx512f,avx512bw,vpclmulqdq")]
pub(super) fn update_wide(key: &GhashKey, acc: &mut [u8; 16], data: &[u8]) {
    let rev = load16(&REVERSE);
    let rev512 = _mm512_broadcast_i32x4(rev);
    let mut x = _mm_shuffle_epi8(load16(acc), rev);
    let mut powers = [_mm512_setzero_si512(); 4];
    for (j, p) in powers.iter_mut().enumerate() {
        // SAFETY: `key.powers` holds 16 blocks, so blocks 4j..4j+4 (64 bytes) are in bounds.
        *p = unsafe { _mm512_loadu_si512(key.powers[4 * j].as_ptr().cast()) };
    }
    let mut chunks = data.chunks_exact(256);
    for chunk in &mut chunks {
        let (mut lo, mut mid, mut hi) = (
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
        );
        for (j, h) in powers.iter().enumerate() {
            // SAFETY: `chunk` is exactly 256 bytes, so bytes 64j..64j+64 are in bounds.
            let mut v = unsafe { _mm512_loadu_si512(chunk.as_ptr().add(64 * j).cast()) };
            v = _mm512_shuffle_epi8(v, rev512);
            if j == 0 {
                v = _mm512_xor_si512(v, _mm512_zextsi128_si512(x));
            }
            lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128::<0x00>(v, *h));
            hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128::<0x11>(v, *h));
            mid = _mm512_ternarylogic_epi64::<0x96>(
                mid,
                _mm512_clmulepi64_epi128::<0x01>(v, *h),
                _mm512_clmulepi64_epi128::<0x10>(v, *h),
            );
        }
        x = reduce([fold4(lo), fold4(mid), fold4(hi)]);
    }
    let x = absorb(key, x, chunks.remainder());
    *acc = store16(_mm_shuffle_epi8(x, rev));
}

/// XOR of the four 128-bit lanes.
#[target_feature(enable = "avx512f")]
fn fold4(v: __m512i) -> __m128i {
    let a = _mm512_extracti32x4_epi32::<0>(v);
    let b = _mm512_extracti32x4_epi32::<1>(v);
    let c = _mm512_extracti32x4_epi32::<2>(v);
    let d = _mm512_extracti32x4_epi32::<3>(v);
    _mm_xor_si128(_mm_xor_si128(a, b), _mm_xor_si128(c, d))
}
