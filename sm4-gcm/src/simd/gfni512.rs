//! SM4 on AVX-512 lanes with the GFNI S-box: 16 blocks per group, 4 groups interleaved
//! (64 blocks, 1 KiB) so the latency of a round is hidden (6 groups measured slower).

use super::sliced::{Backend, entry_points};
use crate::sbox::{POST_CONST, POST_MATRIX, PRE_CONST, PRE_MATRIX};
use core::arch::x86_64::*;

pub(super) struct Gfni512;

impl Backend for Gfni512 {
    type V = __m512i;

    #[inline(always)]
    unsafe fn tau(x: __m512i) -> __m512i {
        // SAFETY: the caller enables avx512f and gfni (trait contract).
        unsafe {
            let s = _mm512_gf2p8affine_epi64_epi8::<{ PRE_CONST as i32 }>(
                x,
                _mm512_set1_epi64(PRE_MATRIX as i64),
            );
            _mm512_gf2p8affineinv_epi64_epi8::<{ POST_CONST as i32 }>(
                s,
                _mm512_set1_epi64(POST_MATRIX as i64),
            )
        }
    }
}

entry_points!(Gfni512, 4, "avx512f,avx512bw,avx512vl,gfni,avx2");
