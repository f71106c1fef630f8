//! SM4 on AVX2 lanes with the AES-NI S-box of `aesni.rs` on 256-bit vectors (VAES), for
//! CPUs with VAES but no GFNI (AMD Zen 3): 8 blocks per group, 4 groups interleaved.

use super::sliced::{Backend, entry_points};
use core::arch::x86_64::*;

pub(super) struct VaesAvx2;

impl Backend for VaesAvx2 {
    type V = __m256i;

    #[inline(always)]
    unsafe fn tau(x: __m256i) -> __m256i {
        // SAFETY: the caller enables avx2, aes and vaes (trait contract).
        unsafe { super::aesni::tau(x) }
    }
}

entry_points!(VaesAvx2, 4, "avx2,aes,vaes");
