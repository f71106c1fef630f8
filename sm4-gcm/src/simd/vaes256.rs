//! SM4 on AVX2 lanes with the AES-NI S-box on 256-bit vectors (VAES), for CPUs with VAES
//! but no GFNI (AMD Zen 3): 8 blocks per group, 4 groups interleaved.

use super::sliced::{AesNi, entry_points};
use core::arch::x86_64::__m256i;

entry_points!(
    AesNi<__m256i>,
    4,
    super::ghash::update,
    "avx2,aes,vaes,pclmulqdq,sse4.1,ssse3"
);
