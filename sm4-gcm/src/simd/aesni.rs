//! SM4 on SSE lanes with the AES-NI S-box: `aesenclast` with a zero round key computes
//! `ShiftRows(AES_SBOX(x))`, and the AES S-box is AES_AFFINE(inv(x)). A pre-shuffle by
//! InvShiftRows cancels ShiftRows; nibble-table `pshufb`s (in-register, constant-time)
//! apply the SM4→AES-field map before and the AES→SM4 map after. 4 blocks per group,
//! 8 groups interleaved (32 blocks, 512 bytes; measured faster than 4 despite spills).

use super::lanes::AesLanes;
use super::sliced::{Backend, entry_points};
use crate::sbox::{AESNI_POST_HI, AESNI_POST_LO, PRE_HI, PRE_LO};
use core::arch::x86_64::*;

/// `pshufb` mask applying AES InvShiftRows: output byte `4c + r` takes input byte
/// `4((c - r) mod 4) + r`.
const INV_SHIFT_ROWS: [u8; 16] = {
    let mut m = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        let (c, r) = (i / 4, i % 4);
        m[i] = (4 * ((c + 4 - r) % 4) + r) as u8;
        i += 1;
    }
    m
};

/// SM4's τ through `aesenclast`, on any lanes that have it (also used by `vaes256`).
///
/// # Safety
/// As for [`AesLanes`].
#[inline(always)]
pub(super) unsafe fn tau<V: AesLanes>(x: V) -> V {
    // SAFETY: the caller enables V's features (this fn's contract); no memory is accessed
    // but the 16-byte constant tables.
    unsafe {
        let y = x.nibble_map(V::mask(&PRE_LO), V::mask(&PRE_HI));
        let z = y.shuffle(V::mask(&INV_SHIFT_ROWS)).aesenclast0();
        z.nibble_map(V::mask(&AESNI_POST_LO), V::mask(&AESNI_POST_HI))
    }
}

pub(super) struct AesNi;

impl Backend for AesNi {
    type V = __m128i;

    #[inline(always)]
    unsafe fn tau(x: __m128i) -> __m128i {
        // SAFETY: the caller enables aes, ssse3 and sse4.1 (trait contract).
        unsafe { tau(x) }
    }
}

entry_points!(AesNi, 8, "aes,ssse3,sse4.1");
