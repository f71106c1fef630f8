//! SM4 on AVX-512 lanes with the GFNI S-box: 16 blocks per group, 4 groups interleaved
//! (64 blocks, 1 KiB) so the latency of a round is hidden (6 groups measured slower).

use super::sliced::{Gfni, entry_points};
use core::arch::x86_64::__m512i;

entry_points!(
    Gfni<__m512i>,
    4,
    super::ghash::update_wide,
    "avx512f,avx512bw,avx512vl,gfni,avx2,pclmulqdq,vpclmulqdq,sse4.1,ssse3"
);
