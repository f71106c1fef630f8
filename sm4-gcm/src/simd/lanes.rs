//! The vector operations word-sliced SM4 needs, for each lane width: SSE (`__m128i`, 4
//! blocks per group), AVX2 (`__m256i`, 8) and AVX-512 (`__m512i`, 16). Every method is one
//! or a few intrinsics, `#[inline(always)]` so it is compiled into the `#[target_feature]`
//! entry point that calls it.

use super::counter_offsets;
use crate::sbox::{POST_CONST, POST_MATRIX, PRE_CONST, PRE_MATRIX};
use core::arch::x86_64::*;

/// One SIMD vector of 32-bit words; 128-bit lanes are independent where it matters.
///
/// # Safety (every method)
/// The caller's `#[target_feature]` set includes the width's features: SSE2/SSSE3/SSE4.1
/// for `__m128i`, AVX2 for `__m256i`, AVX-512F/BW for `__m512i`; plus GFNI for
/// `GfniLanes`, and AES (VAES on `__m256i`) for `AesLanes`. `load` and `store` also need
/// `size_of::<Self>()` bytes readable (writable) at `p`.
pub(super) trait Lanes: Copy {
    /// Blocks per group (a group is four vectors, one per SM4 word).
    const BLOCKS: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(w: u32) -> Self;
    /// `m` in every 128-bit lane.
    unsafe fn mask(m: &[u8; 16]) -> Self;
    /// [`counter_offsets`] for this width.
    unsafe fn counter_offsets() -> Self;
    unsafe fn load(p: *const u8) -> Self;
    unsafe fn store(self, p: *mut u8);
    unsafe fn xor(self, o: Self) -> Self;
    unsafe fn add32(self, o: Self) -> Self;
    /// `pshufb` inside each 128-bit lane.
    unsafe fn shuffle(self, m: Self) -> Self;
    /// `a ^ b ^ c`: a round input from the XOR two rounds share (see `sliced::round_pair`).
    unsafe fn xor3(a: Self, b: Self, c: Self) -> Self;
    /// SM4's linear map L: `s ^ rol2(s) ^ rol10(s) ^ rol18(s) ^ rol24(s)` on each word.
    unsafe fn linear(s: Self) -> Self;
    /// 4×4 transpose of 32-bit words inside each 128-bit lane (its own inverse).
    unsafe fn transpose(y: [Self; 4]) -> [Self; 4];
}

/// Lanes with an `aesenclast` (AES-NI on SSE, VAES on AVX2).
pub(super) trait AesLanes: Lanes {
    /// `lo[x & 15] ^ hi[x >> 4]` on every byte (`pshufb` nibble tables: constant-time).
    unsafe fn nibble_map(self, lo: Self, hi: Self) -> Self;
    /// `aesenclast` with a zero round key on every 128-bit lane: ShiftRows(AES S-box(x)).
    unsafe fn aesenclast0(self) -> Self;
}

/// Lanes with GFNI (`gf2p8affineqb`, `gf2p8affineinvqb`).
pub(super) trait GfniLanes: Lanes {
    /// SM4's S-box τ: the affine map into the AES field, then inversion with the affine map
    /// back (constants from `tools/derive_affine.py`).
    unsafe fn gfni_tau(self) -> Self;
}

/// `pshufb` masks rotating each 32-bit word left by 8, 16 and 24 bits.
const ROL8: [u8; 16] = [3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14];
const ROL16: [u8; 16] = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
const ROL24: [u8; 16] = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];

/// Implements [`Lanes`] and [`AesLanes`] for a width without a vector rotate (SSE, AVX2):
/// L is computed as `s ^ rol24(s) ^ rol2(s ^ rol8(s) ^ rol16(s))` with byte shuffles. One
/// body, two instruction sets: the arguments are that set's intrinsics.
macro_rules! shuffle_lanes {
    ($v:ty, $blocks:literal, $set1_8:ident, $set1_32:ident, $mask:expr, $load:ident,
     $store:ident, $xor:ident, $or:ident, $and:ident, $add:ident, $shuf:ident, $slli:ident,
     $srli:ident, $srli16:ident, $zero:ident, $lo32:ident, $hi32:ident, $lo64:ident,
     $hi64:ident, $aesenclast:ident) => {
        // SAFETY (of every intrinsic below): the trait's contract, see `Lanes`.
        #[allow(unsafe_op_in_unsafe_fn)]
        impl Lanes for $v {
            const BLOCKS: usize = $blocks;
            #[inline(always)]
            unsafe fn zero() -> Self {
                $zero()
            }
            #[inline(always)]
            unsafe fn splat(w: u32) -> Self {
                $set1_32(w as i32)
            }
            #[inline(always)]
            unsafe fn mask(m: &[u8; 16]) -> Self {
                $mask(_mm_loadu_si128(m.as_ptr().cast()))
            }
            #[inline(always)]
            unsafe fn counter_offsets() -> Self {
                Self::load(counter_offsets::<$blocks>().as_ptr().cast())
            }
            #[inline(always)]
            unsafe fn load(p: *const u8) -> Self {
                $load(p.cast())
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut u8) {
                $store(p.cast(), self)
            }
            #[inline(always)]
            unsafe fn xor(self, o: Self) -> Self {
                $xor(self, o)
            }
            #[inline(always)]
            unsafe fn add32(self, o: Self) -> Self {
                $add(self, o)
            }
            #[inline(always)]
            unsafe fn shuffle(self, m: Self) -> Self {
                $shuf(self, m)
            }
            #[inline(always)]
            unsafe fn xor3(a: Self, b: Self, c: Self) -> Self {
                $xor($xor(a, b), c)
            }
            #[inline(always)]
            unsafe fn linear(s: Self) -> Self {
                let rol = |m| $shuf(s, Self::mask(m));
                let u = $xor(s, $xor(rol(&ROL8), rol(&ROL16)));
                let u = $or($slli::<2>(u), $srli::<30>(u));
                $xor($xor(s, rol(&ROL24)), u)
            }
            #[inline(always)]
            unsafe fn transpose(y: [Self; 4]) -> [Self; 4] {
                let t0 = $lo32(y[0], y[1]);
                let t1 = $hi32(y[0], y[1]);
                let t2 = $lo32(y[2], y[3]);
                let t3 = $hi32(y[2], y[3]);
                [$lo64(t0, t2), $hi64(t0, t2), $lo64(t1, t3), $hi64(t1, t3)]
            }
        }

        // SAFETY (of every intrinsic below): the trait's contract, see `Lanes`.
        #[allow(unsafe_op_in_unsafe_fn)]
        impl AesLanes for $v {
            #[inline(always)]
            unsafe fn nibble_map(self, lo: Self, hi: Self) -> Self {
                let nibble = $set1_8(0x0f);
                let l = $and(self, nibble);
                let h = $and($srli16::<4>(self), nibble);
                $xor($shuf(lo, l), $shuf(hi, h))
            }
            #[inline(always)]
            unsafe fn aesenclast0(self) -> Self {
                $aesenclast(self, $zero())
            }
        }
    };
}

shuffle_lanes!(
    __m128i,
    4,
    _mm_set1_epi8,
    _mm_set1_epi32,
    core::convert::identity,
    _mm_loadu_si128,
    _mm_storeu_si128,
    _mm_xor_si128,
    _mm_or_si128,
    _mm_and_si128,
    _mm_add_epi32,
    _mm_shuffle_epi8,
    _mm_slli_epi32,
    _mm_srli_epi32,
    _mm_srli_epi16,
    _mm_setzero_si128,
    _mm_unpacklo_epi32,
    _mm_unpackhi_epi32,
    _mm_unpacklo_epi64,
    _mm_unpackhi_epi64,
    _mm_aesenclast_si128
);

shuffle_lanes!(
    __m256i,
    8,
    _mm256_set1_epi8,
    _mm256_set1_epi32,
    _mm256_broadcastsi128_si256,
    _mm256_loadu_si256,
    _mm256_storeu_si256,
    _mm256_xor_si256,
    _mm256_or_si256,
    _mm256_and_si256,
    _mm256_add_epi32,
    _mm256_shuffle_epi8,
    _mm256_slli_epi32,
    _mm256_srli_epi32,
    _mm256_srli_epi16,
    _mm256_setzero_si256,
    _mm256_unpacklo_epi32,
    _mm256_unpackhi_epi32,
    _mm256_unpacklo_epi64,
    _mm256_unpackhi_epi64,
    _mm256_aesenclast_epi128
);

// SAFETY (of every intrinsic below): the trait's contract, see `Lanes`.
#[allow(unsafe_op_in_unsafe_fn)]
impl Lanes for __m512i {
    const BLOCKS: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_si512()
    }
    #[inline(always)]
    unsafe fn splat(w: u32) -> Self {
        _mm512_set1_epi32(w as i32)
    }
    #[inline(always)]
    unsafe fn mask(m: &[u8; 16]) -> Self {
        _mm512_broadcast_i32x4(_mm_loadu_si128(m.as_ptr().cast()))
    }
    #[inline(always)]
    unsafe fn counter_offsets() -> Self {
        Self::load(counter_offsets::<16>().as_ptr().cast())
    }
    #[inline(always)]
    unsafe fn load(p: *const u8) -> Self {
        _mm512_loadu_si512(p.cast())
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u8) {
        _mm512_storeu_si512(p.cast(), self)
    }
    #[inline(always)]
    unsafe fn xor(self, o: Self) -> Self {
        _mm512_xor_si512(self, o)
    }
    #[inline(always)]
    unsafe fn add32(self, o: Self) -> Self {
        _mm512_add_epi32(self, o)
    }
    #[inline(always)]
    unsafe fn shuffle(self, m: Self) -> Self {
        _mm512_shuffle_epi8(self, m)
    }
    #[inline(always)]
    unsafe fn xor3(a: Self, b: Self, c: Self) -> Self {
        _mm512_ternarylogic_epi32::<0x96>(a, b, c)
    }
    /// With AVX-512's `vprold` and three-way XOR (`vpternlogd 0x96`).
    #[inline(always)]
    unsafe fn linear(s: Self) -> Self {
        let l = _mm512_ternarylogic_epi32::<0x96>(
            s,
            _mm512_rol_epi32::<2>(s),
            _mm512_rol_epi32::<10>(s),
        );
        _mm512_ternarylogic_epi32::<0x96>(l, _mm512_rol_epi32::<18>(s), _mm512_rol_epi32::<24>(s))
    }
    #[inline(always)]
    unsafe fn transpose(y: [Self; 4]) -> [Self; 4] {
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
}

/// Implements [`GfniLanes`] with the given width's GFNI intrinsics.
macro_rules! gfni_lanes {
    ($v:ty, $set1_64:ident, $affine:ident, $affine_inv:ident) => {
        // SAFETY (of every intrinsic below): the trait's contract, see `Lanes` (plus GFNI).
        #[allow(unsafe_op_in_unsafe_fn)]
        impl GfniLanes for $v {
            #[inline(always)]
            unsafe fn gfni_tau(self) -> Self {
                let s = $affine::<{ PRE_CONST as i32 }>(self, $set1_64(PRE_MATRIX as i64));
                $affine_inv::<{ POST_CONST as i32 }>(s, $set1_64(POST_MATRIX as i64))
            }
        }
    };
}

gfni_lanes!(
    __m256i,
    _mm256_set1_epi64x,
    _mm256_gf2p8affine_epi64_epi8,
    _mm256_gf2p8affineinv_epi64_epi8
);
gfni_lanes!(
    __m512i,
    _mm512_set1_epi64,
    _mm512_gf2p8affine_epi64_epi8,
    _mm512_gf2p8affineinv_epi64_epi8
);
