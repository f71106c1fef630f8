//! The only module with `unsafe` code: x86-64 SIMD kernels for SM4-CTR and GHASH.
//!
//! Soundness rests on one rule: every `#[target_feature]` function here is reached only
//! through a [`Kernel`] value, and a `Kernel` is only ever created by [`Kernel::detect`]
//! after `is_x86_feature_detected!` confirmed every feature that kernel's functions enable.
//! Memory accesses are unaligned loads/stores of exactly one vector from a slice whose length
//! was checked (or a fixed-size array) just before, or, in the CTR pass, within the input and
//! output buffers that `Data::raw` gives with their common length (the same buffer in place,
//! else two disjoint ones).
//!
//! Layout shared by the SM4 kernels: a "group" is four vectors `X0..X3`, where `Xj` holds
//! word `j` of every block in the group (4 blocks per 128-bit lane). CTR builds the words
//! directly from the nonce and counters; ECB loads blocks and transposes 4×4 words inside each
//! 128-bit lane. After 32 rounds the words are transposed back so each lane holds one block.

use crate::gcm::{Data, Kind};
use crate::sbox::{RoundKeys, be_words};
use zeroize::Zeroize;

mod aesni;
mod gfni256;
mod gfni512;
mod ghash;
mod lanes;
mod sliced;
mod vaes256;

/// A SIMD kernel whose CPU features have been verified at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kernel(Kind);

impl Kernel {
    /// Returns the kernel if this CPU has every feature its functions enable.
    pub(crate) fn detect(kind: Kind) -> Option<Self> {
        let base = std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("sse4.1")
            && std::is_x86_feature_detected!("ssse3");
        let ok = base
            && match kind {
                Kind::Gfni512 => {
                    std::is_x86_feature_detected!("avx512f")
                        && std::is_x86_feature_detected!("avx512bw")
                        && std::is_x86_feature_detected!("avx512vl")
                        && std::is_x86_feature_detected!("vpclmulqdq")
                        && std::is_x86_feature_detected!("gfni")
                        && std::is_x86_feature_detected!("avx2")
                }
                Kind::Gfni256 => {
                    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("gfni")
                }
                Kind::VaesAvx2 => {
                    std::is_x86_feature_detected!("avx2")
                        && std::is_x86_feature_detected!("aes")
                        && std::is_x86_feature_detected!("vaes")
                }
                Kind::AesNi => std::is_x86_feature_detected!("aes"),
            };
        ok.then_some(Kernel(kind))
    }

    /// XORs the CTR keystream for counter blocks `nonce || ctr`, `nonce || ctr+1`, ... into
    /// `buf` (the last block may be partial). Counters wrap mod 2³² as GCM's inc32 does.
    pub(crate) fn ctr_xor(self, rk: &RoundKeys, nonce: &[u8; 12], ctr: u32, buf: &mut [u8]) {
        let nonce_words = be_words::<3>(nonce);
        match self.0 {
            // SAFETY: `self` exists only if `detect` found avx512f/bw/vl, gfni and avx2.
            Kind::Gfni512 => unsafe { gfni512::ctr_xor(&rk.0, nonce_words, ctr, buf) },
            // SAFETY: `self` exists only if `detect` found avx2 and gfni.
            Kind::Gfni256 => unsafe { gfni256::ctr_xor(&rk.0, nonce_words, ctr, buf) },
            // SAFETY: `self` exists only if `detect` found avx2, aes and vaes.
            Kind::VaesAvx2 => unsafe { vaes256::ctr_xor(&rk.0, nonce_words, ctr, buf) },
            // SAFETY: `self` exists only if `detect` found aes, ssse3 and sse4.1.
            Kind::AesNi => unsafe { aesni::ctr_xor(&rk.0, nonce_words, ctr, buf) },
        }
    }

    /// GCM's payload pass: CTR from counter `ctr` over `data`, GHASH of its ciphertext (the
    /// input when `open`, else the output) into `acc`, stitched group by group.
    #[allow(clippy::too_many_arguments)] // the one call site, in `gcm.rs`
    pub(crate) fn ctr_ghash(
        self,
        rk: &RoundKeys,
        key: &GhashKey,
        nonce: &[u8; 12],
        ctr: u32,
        data: Data<'_>,
        open: bool,
        acc: &mut [u8; 16],
    ) {
        let n = be_words::<3>(nonce);
        match self.0 {
            // SAFETY: `self` exists only if `detect` found avx512f/bw/vl, gfni, avx2,
            // vpclmulqdq, pclmulqdq, sse4.1 and ssse3.
            Kind::Gfni512 => unsafe { gfni512::ctr_ghash(&rk.0, n, ctr, data, open, key, acc) },
            // SAFETY: `self` exists only if `detect` found avx2, gfni, pclmulqdq, sse4.1, ssse3.
            Kind::Gfni256 => unsafe { gfni256::ctr_ghash(&rk.0, n, ctr, data, open, key, acc) },
            // SAFETY: `self` exists only if `detect` found avx2, aes, vaes, pclmulqdq, sse4.1
            // and ssse3.
            Kind::VaesAvx2 => unsafe { vaes256::ctr_ghash(&rk.0, n, ctr, data, open, key, acc) },
            // SAFETY: `self` exists only if `detect` found aes, pclmulqdq, ssse3 and sse4.1.
            Kind::AesNi => unsafe { aesni::ctr_ghash(&rk.0, n, ctr, data, open, key, acc) },
        }
    }

    /// Encrypts each block independently (raw SM4, for known-answer tests).
    pub(crate) fn encrypt_blocks(self, rk: &RoundKeys, blocks: &mut [[u8; 16]]) {
        match self.0 {
            // SAFETY: as in `ctr_xor`.
            Kind::Gfni512 => unsafe { gfni512::encrypt_blocks(&rk.0, blocks) },
            // SAFETY: as in `ctr_xor`.
            Kind::Gfni256 => unsafe { gfni256::encrypt_blocks(&rk.0, blocks) },
            // SAFETY: as in `ctr_xor`.
            Kind::VaesAvx2 => unsafe { vaes256::encrypt_blocks(&rk.0, blocks) },
            // SAFETY: as in `ctr_xor`.
            Kind::AesNi => unsafe { aesni::encrypt_blocks(&rk.0, blocks) },
        }
    }

    /// Precomputes the GHASH key powers H¹..H¹⁶.
    pub(crate) fn ghash_key(self, h: &[u8; 16]) -> GhashKey {
        // SAFETY: every kernel's `detect` checked pclmulqdq, ssse3 and sse4.1.
        unsafe { ghash::key(h) }
    }

    /// Absorbs `data` into the GHASH accumulator `acc` (standard GHASH byte order); a partial
    /// final block is zero-padded, as GCM pads both the AAD and the ciphertext.
    pub(crate) fn ghash(self, key: &GhashKey, acc: &mut [u8; 16], data: &[u8]) {
        match self.0 {
            // SAFETY: `detect` found avx512f/bw, vpclmulqdq and the pclmulqdq base set.
            Kind::Gfni512 => unsafe { ghash::update_wide(key, acc, data) },
            // SAFETY: `detect` found pclmulqdq, ssse3 and sse4.1.
            Kind::Gfni256 | Kind::VaesAvx2 | Kind::AesNi => unsafe {
                ghash::update(key, acc, data)
            },
        }
    }
}

/// GHASH key powers in the POLYVAL domain (RFC 8452 Appendix A), highest power first:
/// `powers[i]` is H^(16-i). Zeroized on drop.
pub(crate) struct GhashKey {
    powers: [[u8; 16]; 16],
}

impl Drop for GhashKey {
    fn drop(&mut self) {
        self.powers.zeroize();
    }
}

/// `x` with lanes `e` of each group counter vector offset so that, after the output
/// transpose, blocks land in memory order (see the module docs): element `e = 4k + r`
/// (128-bit lane `k`, word `r`) ends up as block `lanes·r + k`.
const fn counter_offsets<const N: usize>() -> [u32; N] {
    let lanes = N / 4;
    let mut out = [0u32; N];
    let mut e = 0;
    while e < N {
        out[e] = (lanes * (e % 4) + e / 4) as u32;
        e += 1;
    }
    out
}

/// `pshufb` mask reversing the bytes of each 32-bit word (SM4 words are big-endian).
const BSWAP32: [u8; 16] = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kernel against the scalar model of `sbox.rs` on 200 keys × 37 blocks (a length
    /// that leaves a partial group), independently of the `sm4` crate.
    #[test]
    fn kernels_match_the_scalar_model() {
        let mut ran = 0;
        for kind in [Kind::Gfni512, Kind::Gfni256, Kind::VaesAvx2, Kind::AesNi] {
            let Some(kernel) = Kernel::detect(kind) else {
                eprintln!("SKIPPED kernels_match_the_scalar_model on {kind:?}: CPU lacks it");
                continue;
            };
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_le_bytes()
            };
            for _ in 0..200 {
                let key: [u8; 16] = [next(), next()].concat().try_into().unwrap();
                let rk = RoundKeys::expand(&key);
                let mut blocks: Vec<[u8; 16]> = (0..37)
                    .map(|_| [next(), next()].concat().try_into().unwrap())
                    .collect();
                let expected: Vec<[u8; 16]> = blocks.iter().map(|b| rk.encrypt_block(b)).collect();
                kernel.encrypt_blocks(&rk, &mut blocks);
                assert_eq!(blocks, expected, "{kind:?}");
            }
            ran += 1;
        }
        eprintln!("kernels_match_the_scalar_model: {ran} of 4 kernels ran");
        // The AesNi kernel needs only these: on such a CPU, a run of none means detection broke
        // and nothing was checked.
        let aesni_cpu = std::is_x86_feature_detected!("aes")
            && std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("ssse3")
            && std::is_x86_feature_detected!("sse4.1");
        assert!(
            ran > 0 || !aesni_cpu,
            "no SIMD kernel ran: nothing was checked"
        );
        if std::env::var_os("TKMS_SM4_REQUIRE_ALL_BACKENDS").is_some() {
            assert_eq!(
                ran, 4,
                "TKMS_SM4_REQUIRE_ALL_BACKENDS is set but a kernel was skipped"
            );
        }
    }

    #[test]
    fn counter_offsets_are_a_permutation_in_transposed_order() {
        assert_eq!(counter_offsets::<4>(), [0, 1, 2, 3]);
        assert_eq!(counter_offsets::<8>(), [0, 2, 4, 6, 1, 3, 5, 7]);
        assert_eq!(
            counter_offsets::<16>(),
            [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15]
        );
    }
}
