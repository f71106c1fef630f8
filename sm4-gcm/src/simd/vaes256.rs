//! SM4 on AVX2 lanes with the AES-NI S-box of `aesni.rs` on 256-bit vectors (VAES), for
//! CPUs with VAES but no GFNI (AMD Zen 3): 8 blocks per group, 4 groups interleaved.

use super::aesni::INV_SHIFT_ROWS;
use super::{BSWAP32, counter_offsets};
use crate::sbox::{AESNI_POST_HI, AESNI_POST_LO, PRE_HI, PRE_LO};
use core::arch::x86_64::*;

type V = __m256i;
/// Blocks per group.
const BLOCKS: usize = 8;
/// Groups interleaved on the bulk path.
const WIDE: usize = 4;

/// `pshufb` masks rotating each 32-bit word left by 8, 16 and 24 bits.
const ROL8: [u8; 16] = [3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14];
const ROL16: [u8; 16] = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
const ROL24: [u8; 16] = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];

#[target_feature(enable = "avx2")]
fn mask(m: &[u8; 16]) -> V {
    // SAFETY: reads exactly the 16 bytes of `m`.
    _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(m.as_ptr().cast()) })
}

/// `lo[x & 15] ^ hi[x >> 4]` on every byte.
#[target_feature(enable = "avx2")]
fn nibble_map(x: V, lo: V, hi: V, nibble: V) -> V {
    let l = _mm256_and_si256(x, nibble);
    let h = _mm256_and_si256(_mm256_srli_epi16::<4>(x), nibble);
    _mm256_xor_si256(_mm256_shuffle_epi8(lo, l), _mm256_shuffle_epi8(hi, h))
}

/// `x ^= T(a ^ b ^ c ^ rk)` on every group, T being τ (AES-NI S-box) then L.
macro_rules! round {
    ($x:ident, $t:literal, $a:literal, $b:literal, $c:literal, $rk:expr, $m:ident) => {
        let k = _mm256_set1_epi32($rk as i32);
        for g in $x.iter_mut() {
            let t = _mm256_xor_si256(_mm256_xor_si256(g[$a], g[$b]), _mm256_xor_si256(g[$c], k));
            let y = nibble_map(t, $m.pre_lo, $m.pre_hi, $m.nibble);
            let y = _mm256_shuffle_epi8(y, $m.inv_shift_rows);
            let z = _mm256_aesenclast_epi128(y, _mm256_setzero_si256());
            let s = nibble_map(z, $m.post_lo, $m.post_hi, $m.nibble);
            let u = _mm256_xor_si256(
                s,
                _mm256_xor_si256(
                    _mm256_shuffle_epi8(s, $m.rol8),
                    _mm256_shuffle_epi8(s, $m.rol16),
                ),
            );
            let u = _mm256_or_si256(_mm256_slli_epi32::<2>(u), _mm256_srli_epi32::<30>(u));
            let l = _mm256_xor_si256(_mm256_xor_si256(s, _mm256_shuffle_epi8(s, $m.rol24)), u);
            g[$t] = _mm256_xor_si256(g[$t], l);
        }
    };
}

struct Consts {
    pre_lo: V,
    pre_hi: V,
    post_lo: V,
    post_hi: V,
    inv_shift_rows: V,
    nibble: V,
    rol8: V,
    rol16: V,
    rol24: V,
}

#[target_feature(enable = "avx2,aes,vaes")]
fn rounds<const G: usize>(rk: &[u32; 32], x: &mut [[V; 4]; G]) {
    let m = Consts {
        pre_lo: mask(&PRE_LO),
        pre_hi: mask(&PRE_HI),
        post_lo: mask(&AESNI_POST_LO),
        post_hi: mask(&AESNI_POST_HI),
        inv_shift_rows: mask(&INV_SHIFT_ROWS),
        nibble: _mm256_set1_epi8(0x0f),
        rol8: mask(&ROL8),
        rol16: mask(&ROL16),
        rol24: mask(&ROL24),
    };
    for r in rk.chunks_exact(4) {
        round!(x, 0, 1, 2, 3, r[0], m);
        round!(x, 1, 2, 3, 0, r[1], m);
        round!(x, 2, 3, 0, 1, r[2], m);
        round!(x, 3, 0, 1, 2, r[3], m);
    }
    let bswap = mask(&BSWAP32);
    for g in x.iter_mut() {
        let y = [g[3], g[2], g[1], g[0]].map(|v| _mm256_shuffle_epi8(v, bswap));
        *g = transpose(y);
    }
}

/// 4×4 transpose of 32-bit words inside each 128-bit lane (its own inverse).
#[target_feature(enable = "avx2")]
fn transpose(y: [V; 4]) -> [V; 4] {
    let t0 = _mm256_unpacklo_epi32(y[0], y[1]);
    let t1 = _mm256_unpackhi_epi32(y[0], y[1]);
    let t2 = _mm256_unpacklo_epi32(y[2], y[3]);
    let t3 = _mm256_unpackhi_epi32(y[2], y[3]);
    [
        _mm256_unpacklo_epi64(t0, t2),
        _mm256_unpackhi_epi64(t0, t2),
        _mm256_unpacklo_epi64(t1, t3),
        _mm256_unpackhi_epi64(t1, t3),
    ]
}

#[target_feature(enable = "avx2,aes,vaes")]
fn keystream<const G: usize>(rk: &[u32; 32], nonce: [u32; 3], ctr: u32) -> [[V; 4]; G] {
    let offsets = counter_offsets::<8>();
    // SAFETY: `offsets` is 8 u32 = 32 bytes; loadu reads exactly those.
    let offsets = unsafe { _mm256_loadu_si256(offsets.as_ptr().cast()) };
    let mut x = [[_mm256_setzero_si256(); 4]; G];
    for (i, g) in x.iter_mut().enumerate() {
        let base = _mm256_set1_epi32(ctr.wrapping_add((i * BLOCKS) as u32) as i32);
        *g = [
            _mm256_set1_epi32(nonce[0] as i32),
            _mm256_set1_epi32(nonce[1] as i32),
            _mm256_set1_epi32(nonce[2] as i32),
            _mm256_add_epi32(base, offsets),
        ];
    }
    rounds(rk, &mut x);
    x
}

#[target_feature(enable = "avx2")]
fn xor_groups<const G: usize>(ks: &[[V; 4]; G], chunk: &mut [u8]) {
    assert_eq!(chunk.len(), G * BLOCKS * 16, "caller passes whole groups");
    for (i, v) in ks.iter().flatten().enumerate() {
        // SAFETY: the assert above makes bytes 32i..32i+32 in bounds for i < 4G.
        unsafe {
            let p = chunk.as_mut_ptr().add(32 * i);
            _mm256_storeu_si256(p.cast(), _mm256_xor_si256(_mm256_loadu_si256(p.cast()), *v));
        }
    }
}

#[target_feature(enable = "avx2,aes,vaes")]
pub(super) fn ctr_xor(rk: &[u32; 32], nonce: [u32; 3], mut ctr: u32, buf: &mut [u8]) {
    let mut wide = buf.chunks_exact_mut(WIDE * BLOCKS * 16);
    for chunk in &mut wide {
        xor_groups(&keystream::<WIDE>(rk, nonce, ctr), chunk);
        ctr = ctr.wrapping_add((WIDE * BLOCKS) as u32);
    }
    let mut groups = wide.into_remainder().chunks_exact_mut(BLOCKS * 16);
    for chunk in &mut groups {
        xor_groups(&keystream::<1>(rk, nonce, ctr), chunk);
        ctr = ctr.wrapping_add(BLOCKS as u32);
    }
    let tail = groups.into_remainder();
    if !tail.is_empty() {
        let mut block = [0u8; BLOCKS * 16];
        block[..tail.len()].copy_from_slice(tail);
        xor_groups(&keystream::<1>(rk, nonce, ctr), &mut block);
        tail.copy_from_slice(&block[..tail.len()]);
    }
}

#[target_feature(enable = "avx2,aes,vaes")]
pub(super) fn encrypt_blocks(rk: &[u32; 32], blocks: &mut [[u8; 16]]) {
    let bswap = mask(&BSWAP32);
    for chunk in blocks.chunks_mut(BLOCKS) {
        let mut buf = [[0u8; 16]; BLOCKS];
        buf[..chunk.len()].copy_from_slice(chunk);
        let mut y = [_mm256_setzero_si256(); 4];
        for (r, v) in y.iter_mut().enumerate() {
            // SAFETY: `buf` holds 8 blocks, so blocks 2r..2r+2 (32 bytes) are in bounds.
            *v = _mm256_shuffle_epi8(
                unsafe { _mm256_loadu_si256(buf[2 * r].as_ptr().cast()) },
                bswap,
            );
        }
        let mut x = [transpose(y)];
        rounds(rk, &mut x);
        for (r, v) in x[0].iter().enumerate() {
            // SAFETY: as for the loads above.
            unsafe { _mm256_storeu_si256(buf[2 * r].as_mut_ptr().cast(), *v) };
        }
        chunk.copy_from_slice(&buf[..chunk.len()]);
    }
}
