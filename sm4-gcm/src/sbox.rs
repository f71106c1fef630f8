//! The SM4 S-box as an affine map around inversion in the AES field, and the key schedule.
//!
//! GB/T 32907 gives the S-box as a table. Algebraically it is
//! `S(x) = A·inv₁(A·x + c) + c` with `inv₁` the inverse in GF(2⁸) modulo
//! x⁸+x⁷+x⁶+x⁵+x⁴+x²+1 (0x1F5), `A` the circulant matrix whose rows are the rotations of
//! 0xD3 and `c = 0xD3`. The field isomorphism `M` (x ↦ β = 0x23, a root of 0x1F5 in the AES
//! field modulo 0x11B) turns that into
//!
//! `S(x) = (A·M⁻¹)·inv_AES((M·A)·x + M·c) + c`
//!
//! which is exactly what GFNI computes with two instructions: `gf2p8affineqb` with
//! [`PRE_MATRIX`]/[`PRE_CONST`], then `gf2p8affineinvqb` with [`POST_MATRIX`]/[`POST_CONST`].
//! `tools/derive_affine.py` derives the four constants; the tests below check them against
//! the standard's table for all 256 inputs. Everything here is branch-free and table-free,
//! so the key schedule of the fast backends runs in constant time.

use zeroize::Zeroize;

/// `gf2p8affineqb` matrix taking an SM4 S-box input into the AES field (`M·A`).
pub(crate) const PRE_MATRIX: u64 = 0x4c28_7db9_1a22_505d;
/// Constant of the pre-affine map (`M·0xD3`).
pub(crate) const PRE_CONST: u8 = 0x3e;
/// `gf2p8affineinvqb` matrix taking an AES-field inverse back to the SM4 output (`A·M⁻¹`).
pub(crate) const POST_MATRIX: u64 = 0xf3ab_34a9_74a6_b589;
/// Constant of the post-affine map.
pub(crate) const POST_CONST: u8 = 0xd3;

/// The pre-affine map split into nibble tables for `pshufb` (AES-NI backend):
/// `pre(x) = PRE_LO[x & 15] ^ PRE_HI[x >> 4]` (the constant is folded into `PRE_LO`).
pub(crate) const PRE_LO: [u8; 16] = nibble_table(PRE_MATRIX, PRE_CONST, 0);
/// High-nibble half of the pre-affine map.
pub(crate) const PRE_HI: [u8; 16] = nibble_table(PRE_MATRIX, 0, 4);
/// `aesenclast` yields `AES_AFFINE(inv(x))`; this map undoes AES's affine step and applies
/// the SM4 post-affine map in one go (`POST·AES⁻¹`, constants folded), as nibble tables.
pub(crate) const AESNI_POST_LO: [u8; 16] = [
    0x6c, 0xd4, 0xa6, 0x1e, 0x52, 0xea, 0x98, 0x20, 0x0b, 0xb3, 0xc1, 0x79, 0x35, 0x8d, 0xff, 0x47,
];
/// High-nibble half of the AES-NI post map.
pub(crate) const AESNI_POST_HI: [u8; 16] = [
    0x00, 0xe0, 0x50, 0xb0, 0x9d, 0x7d, 0xcd, 0x2d, 0xc0, 0x20, 0x90, 0x70, 0x5d, 0xbd, 0x0d, 0xed,
];

/// `FK` of the key schedule (GB/T 32907 §7.3).
const FK: [u32; 4] = [0xa3b1_bac6, 0x56aa_3350, 0x677d_9197, 0xb270_22dc];

/// Bit-exact model of `gf2p8affineqb` on one byte: output bit `i` is the parity of
/// `x & matrix.byte[7 - i]`, plus bit `i` of `constant`.
pub(crate) const fn affine(matrix: u64, constant: u8, x: u8) -> u8 {
    let mut out = 0u8;
    let mut i = 0;
    while i < 8 {
        let row = (matrix >> (8 * (7 - i))) as u8;
        out |= (((row & x).count_ones() & 1) as u8) << i;
        i += 1;
    }
    out ^ constant
}

const fn nibble_table(matrix: u64, constant: u8, shift: u32) -> [u8; 16] {
    let mut t = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        t[n] = affine(matrix, constant, (n as u8) << shift);
        n += 1;
    }
    t
}

/// Multiplication in the AES field (mod 0x11B), branch-free.
pub(crate) const fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    let mut i = 0;
    while i < 8 {
        r ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (carry & 0x1b);
        b >>= 1;
        i += 1;
    }
    r
}

/// Inverse in the AES field as x²⁵⁴ (0 ↦ 0, like `gf2p8affineinvqb`), branch-free.
pub(crate) const fn gf_inv(x: u8) -> u8 {
    // 254 = 0b1111_1110: a fixed, public square-and-multiply chain.
    let mut r = 1u8;
    let mut i = 0;
    while i < 8 {
        r = gf_mul(r, r);
        if i < 7 {
            r = gf_mul(r, x);
        }
        i += 1;
    }
    r
}

/// The SM4 S-box computed the way the GFNI kernels do, one byte at a time.
pub(crate) const fn sbox(x: u8) -> u8 {
    affine(
        POST_MATRIX,
        POST_CONST,
        gf_inv(affine(PRE_MATRIX, PRE_CONST, x)),
    )
}

fn tau(a: u32) -> u32 {
    u32::from_be_bytes(a.to_be_bytes().map(sbox))
}

/// `CK[i]`: byte `j` is `(4i + j)·7 mod 256` (GB/T 32907 §7.3).
fn ck(i: usize) -> u32 {
    let byte = |j: usize| (((4 * i + j) * 7) % 256) as u8;
    u32::from_be_bytes([byte(0), byte(1), byte(2), byte(3)])
}

/// The first `N` big-endian 32-bit words of `bytes` (SM4 words are big-endian, and so are
/// GCM's counter blocks). `bytes` holds at least `4N` bytes: callers pass fixed-size arrays.
pub(crate) fn be_words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let (words, _) = bytes.as_chunks::<4>();
    core::array::from_fn(|i| u32::from_be_bytes(words[i]))
}

/// The 32 round keys, zeroized on drop, never printed.
#[derive(Clone)]
pub(crate) struct RoundKeys(pub(crate) [u32; 32]);

impl RoundKeys {
    /// Constant-time SM4 key schedule (no table look-ups).
    pub(crate) fn expand(key: &[u8; 16]) -> Self {
        let mut k = be_words::<4>(key);
        for (w, fk) in k.iter_mut().zip(FK) {
            *w ^= fk;
        }
        let mut rk = [0u32; 32];
        for (i, out) in rk.iter_mut().enumerate() {
            let t = tau(k[1] ^ k[2] ^ k[3] ^ ck(i));
            let next = k[0] ^ t ^ t.rotate_left(13) ^ t.rotate_left(23);
            *out = next;
            k = [k[1], k[2], k[3], next];
        }
        k.zeroize();
        RoundKeys(rk)
    }

    /// One block with the scalar model (tests compare the SIMD kernels against it).
    #[cfg(test)]
    pub(crate) fn encrypt_block(&self, block: &[u8; 16]) -> [u8; 16] {
        let mut x = be_words::<4>(block);
        for &rk in &self.0 {
            let t = tau(x[1] ^ x[2] ^ x[3] ^ rk);
            let next = x[0]
                ^ t
                ^ t.rotate_left(2)
                ^ t.rotate_left(10)
                ^ t.rotate_left(18)
                ^ t.rotate_left(24);
            x = [x[1], x[2], x[3], next];
        }
        let mut out = [0u8; 16];
        for (i, word) in x.iter().rev().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

impl Drop for RoundKeys {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The S-box table of GB/T 32907 §6.2, copied from the standard.
    const SBOX_TABLE: [u8; 256] = [
        0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c,
        0x05, 0x2b, 0x67, 0x9a, 0x76, 0x2a, 0xbe, 0x04, 0xc3, 0xaa, 0x44, 0x13, 0x26, 0x49, 0x86,
        0x06, 0x99, 0x9c, 0x42, 0x50, 0xf4, 0x91, 0xef, 0x98, 0x7a, 0x33, 0x54, 0x0b, 0x43, 0xed,
        0xcf, 0xac, 0x62, 0xe4, 0xb3, 0x1c, 0xa9, 0xc9, 0x08, 0xe8, 0x95, 0x80, 0xdf, 0x94, 0xfa,
        0x75, 0x8f, 0x3f, 0xa6, 0x47, 0x07, 0xa7, 0xfc, 0xf3, 0x73, 0x17, 0xba, 0x83, 0x59, 0x3c,
        0x19, 0xe6, 0x85, 0x4f, 0xa8, 0x68, 0x6b, 0x81, 0xb2, 0x71, 0x64, 0xda, 0x8b, 0xf8, 0xeb,
        0x0f, 0x4b, 0x70, 0x56, 0x9d, 0x35, 0x1e, 0x24, 0x0e, 0x5e, 0x63, 0x58, 0xd1, 0xa2, 0x25,
        0x22, 0x7c, 0x3b, 0x01, 0x21, 0x78, 0x87, 0xd4, 0x00, 0x46, 0x57, 0x9f, 0xd3, 0x27, 0x52,
        0x4c, 0x36, 0x02, 0xe7, 0xa0, 0xc4, 0xc8, 0x9e, 0xea, 0xbf, 0x8a, 0xd2, 0x40, 0xc7, 0x38,
        0xb5, 0xa3, 0xf7, 0xf2, 0xce, 0xf9, 0x61, 0x15, 0xa1, 0xe0, 0xae, 0x5d, 0xa4, 0x9b, 0x34,
        0x1a, 0x55, 0xad, 0x93, 0x32, 0x30, 0xf5, 0x8c, 0xb1, 0xe3, 0x1d, 0xf6, 0xe2, 0x2e, 0x82,
        0x66, 0xca, 0x60, 0xc0, 0x29, 0x23, 0xab, 0x0d, 0x53, 0x4e, 0x6f, 0xd5, 0xdb, 0x37, 0x45,
        0xde, 0xfd, 0x8e, 0x2f, 0x03, 0xff, 0x6a, 0x72, 0x6d, 0x6c, 0x5b, 0x51, 0x8d, 0x1b, 0xaf,
        0x92, 0xbb, 0xdd, 0xbc, 0x7f, 0x11, 0xd9, 0x5c, 0x41, 0x1f, 0x10, 0x5a, 0xd8, 0x0a, 0xc1,
        0x31, 0x88, 0xa5, 0xcd, 0x7b, 0xbd, 0x2d, 0x74, 0xd0, 0x12, 0xb8, 0xe5, 0xb4, 0xb0, 0x89,
        0x69, 0x97, 0x4a, 0x0c, 0x96, 0x77, 0x7e, 0x65, 0xb9, 0xf1, 0x09, 0xc5, 0x6e, 0xc6, 0x84,
        0x18, 0xf0, 0x7d, 0xec, 0x3a, 0xdc, 0x4d, 0x20, 0x79, 0xee, 0x5f, 0x3e, 0xd7, 0xcb, 0x39,
        0x48,
    ];

    /// The AES S-box (FIPS 197): what `aesenclast` applies to each byte.
    fn aes_sbox(x: u8) -> u8 {
        let b = gf_inv(x);
        b ^ b.rotate_left(1) ^ b.rotate_left(2) ^ b.rotate_left(3) ^ b.rotate_left(4) ^ 0x63
    }

    #[test]
    fn affine_maps_around_aes_inversion_give_the_sm4_sbox_for_all_inputs() {
        for x in 0..=255u8 {
            assert_eq!(sbox(x), SBOX_TABLE[x as usize], "input {x:#04x}");
        }
    }

    #[test]
    fn nibble_tables_around_aes_sbox_give_the_sm4_sbox_for_all_inputs() {
        assert_eq!(aes_sbox(0x53), 0xed);
        for x in 0..=255u8 {
            let pre = PRE_LO[(x & 15) as usize] ^ PRE_HI[(x >> 4) as usize];
            let z = aes_sbox(pre);
            let out = AESNI_POST_LO[(z & 15) as usize] ^ AESNI_POST_HI[(z >> 4) as usize];
            assert_eq!(out, SBOX_TABLE[x as usize], "input {x:#04x}");
        }
    }

    #[test]
    fn field_inverse_is_an_inverse() {
        assert_eq!(gf_inv(0), 0);
        for x in 1..=255u8 {
            assert_eq!(gf_mul(x, gf_inv(x)), 1, "input {x:#04x}");
        }
    }

    #[test]
    fn ck_matches_the_standard() {
        assert_eq!(ck(0), 0x0007_0e15);
        assert_eq!(ck(1), 0x1c23_2a31);
        assert_eq!(ck(31), 0x646b_7279);
    }

    #[test]
    fn scalar_model_matches_the_standard_example() {
        let key: [u8; 16] = hex::decode("0123456789abcdeffedcba9876543210")
            .unwrap()
            .try_into()
            .unwrap();
        let rk = RoundKeys::expand(&key);
        assert_eq!(rk.0[0], 0xf121_86f9);
        assert_eq!(rk.0[31], 0x9124_a012);
        assert_eq!(
            hex::encode(rk.encrypt_block(&key)),
            "681edf34d206965e86b3e94f536e4246"
        );
    }
}
