//! SM4 on AVX-512 lanes with the GFNI S-box: 16 blocks per group, 4 groups interleaved
//! (64 blocks, 1 KiB) so the latency of a round is hidden (6 groups measured slower).

use super::{BSWAP32, counter_offsets};
use crate::sbox::{POST_CONST, POST_MATRIX, PRE_CONST, PRE_MATRIX};
use core::arch::x86_64::*;

type V = __m512i;
/// Blocks per group.
const BLOCKS: usize = 16;
/// Groups interleaved on the bulk path.
const WIDE: usize = 4;

/// `x ^= T(a ^ b ^ c ^ rk)` on every group, T being τ (GFNI S-box) then L.
macro_rules! round {
    ($x:ident, $t:literal, $a:literal, $b:literal, $c:literal, $rk:expr, $pre:ident, $post:ident) => {
        let k = _mm512_set1_epi32($rk as i32);
        for g in $x.iter_mut() {
            let t = _mm512_xor_si512(_mm512_ternarylogic_epi32::<0x96>(g[$a], g[$b], g[$c]), k);
            let s = _mm512_gf2p8affine_epi64_epi8::<{ PRE_CONST as i32 }>(t, $pre);
            let s = _mm512_gf2p8affineinv_epi64_epi8::<{ POST_CONST as i32 }>(s, $post);
            let l = _mm512_ternarylogic_epi32::<0x96>(
                s,
                _mm512_rol_epi32::<2>(s),
                _mm512_rol_epi32::<10>(s),
            );
            let l = _mm512_ternarylogic_epi32::<0x96>(
                l,
                _mm512_rol_epi32::<18>(s),
                _mm512_rol_epi32::<24>(s),
            );
            g[$t] = _mm512_xor_si512(g[$t], l);
        }
    };
}

/// 32 rounds on word-sliced groups, then the final word reversal, byte swap and transpose:
/// on return `x[g][r]` holds blocks `4r..4r+4` of group `g` in memory byte order.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,gfni")]
fn rounds<const G: usize>(rk: &[u32; 32], x: &mut [[V; 4]; G]) {
    let pre = _mm512_set1_epi64(PRE_MATRIX as i64);
    let post = _mm512_set1_epi64(POST_MATRIX as i64);
    for r in rk.chunks_exact(4) {
        round!(x, 0, 1, 2, 3, r[0], pre, post);
        round!(x, 1, 2, 3, 0, r[1], pre, post);
        round!(x, 2, 3, 0, 1, r[2], pre, post);
        round!(x, 3, 0, 1, 2, r[3], pre, post);
    }
    // SAFETY: BSWAP32 is 16 bytes; loadu reads exactly those.
    let bswap = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(BSWAP32.as_ptr().cast()) });
    for g in x.iter_mut() {
        let y = [g[3], g[2], g[1], g[0]].map(|v| _mm512_shuffle_epi8(v, bswap));
        *g = transpose(y);
    }
}

/// 4×4 transpose of 32-bit words inside each 128-bit lane (its own inverse).
#[target_feature(enable = "avx512f")]
fn transpose(y: [V; 4]) -> [V; 4] {
    let t0 = _mm512_unpacklo_epi32(y[0], y[1]);
    let t1 = _mm512_unpackhi_epi32(y[0], y[1]);
    let t2 = _mm512_unpacklo_epi32(y[2], y[3]);
    let t3 = _mm512_unpackhi_epi32(y[2], y[3]);
    [
        _mm512_unpacklo_epi64(t0, t2),
        _mm512_unpackhi_epi64(t0, t2),
        _mm512_unpacklo_epi64(t1, t3),
        _mm512_unpackhi_epi64(t1, t3),
    ]
}

/// Keystream for `G` groups starting at counter `ctr`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,gfni")]
fn keystream<const G: usize>(rk: &[u32; 32], nonce: [u32; 3], ctr: u32) -> [[V; 4]; G] {
    let offsets = counter_offsets::<16>();
    // SAFETY: `offsets` is 16 u32 = 64 bytes; loadu reads exactly those.
    let offsets = unsafe { _mm512_loadu_si512(offsets.as_ptr().cast()) };
    let mut x = [[_mm512_setzero_si512(); 4]; G];
    for (i, g) in x.iter_mut().enumerate() {
        let base = _mm512_set1_epi32(ctr.wrapping_add((i * BLOCKS) as u32) as i32);
        *g = [
            _mm512_set1_epi32(nonce[0] as i32),
            _mm512_set1_epi32(nonce[1] as i32),
            _mm512_set1_epi32(nonce[2] as i32),
            _mm512_add_epi32(base, offsets),
        ];
    }
    rounds(rk, &mut x);
    x
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,gfni")]
fn xor_groups<const G: usize>(ks: &[[V; 4]; G], chunk: &mut [u8]) {
    assert_eq!(chunk.len(), G * BLOCKS * 16, "caller passes whole groups");
    for (i, v) in ks.iter().flatten().enumerate() {
        // SAFETY: the assert above makes bytes 64i..64i+64 in bounds for i < 4G.
        unsafe {
            let p = chunk.as_mut_ptr().add(64 * i);
            _mm512_storeu_si512(p.cast(), _mm512_xor_si512(_mm512_loadu_si512(p.cast()), *v));
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,gfni,avx2")]
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

#[target_feature(enable = "avx512f,avx512bw,avx512vl,gfni,avx2")]
pub(super) fn encrypt_blocks(rk: &[u32; 32], blocks: &mut [[u8; 16]]) {
    // SAFETY: BSWAP32 is 16 bytes; loadu reads exactly those.
    let bswap = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(BSWAP32.as_ptr().cast()) });
    for chunk in blocks.chunks_mut(BLOCKS) {
        let mut buf = [[0u8; 16]; BLOCKS];
        buf[..chunk.len()].copy_from_slice(chunk);
        let mut y = [_mm512_setzero_si512(); 4];
        for (r, v) in y.iter_mut().enumerate() {
            // SAFETY: `buf` holds 16 blocks, so blocks 4r..4r+4 (64 bytes) are in bounds.
            *v = _mm512_shuffle_epi8(
                unsafe { _mm512_loadu_si512(buf[4 * r].as_ptr().cast()) },
                bswap,
            );
        }
        let mut x = [transpose(y)];
        rounds(rk, &mut x);
        for (r, v) in x[0].iter().enumerate() {
            // SAFETY: as for the loads above.
            unsafe { _mm512_storeu_si512(buf[4 * r].as_mut_ptr().cast(), *v) };
        }
        chunk.copy_from_slice(&buf[..chunk.len()]);
    }
}
