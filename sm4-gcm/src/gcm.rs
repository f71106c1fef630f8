//! GCM (NIST SP 800-38D) over SM4 with 96-bit nonces, as RFC 8998 uses it:
//! `J0 = nonce || 0x00000001`, the payload is encrypted with counters from `inc32(J0)`,
//! and `tag = E(J0) ^ GHASH(H, A || pad || C || pad || [len(A)]₆₄ || [len(C)]₆₄)`.

use crate::policy::Refused;
use crate::sbox::RoundKeys;
use crate::simd::{GhashKey, Kernel};
use cipher::{BlockCipherEncrypt, KeyInit};
use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// SM4-GCM nonce length in bytes (the only length this API takes, as RFC 8998 requires).
pub const NONCE_LEN: usize = 12;
/// SM4-GCM tag length in bytes.
pub const TAG_LEN: usize = 16;
/// SP 800-38D bounds the plaintext to 2³⁹ − 256 bits: beyond it the 32-bit counter wraps.
pub const MAX_MESSAGE_LEN: u64 = (1 << 36) - 32;
/// Bytes `Soft` encrypts and hashes per step, so the GHASH pass reads data still in L1 cache
/// (the SIMD kernels hash each group of blocks as they go: `simd/sliced.rs`, `ctr_hash`).
const CHUNK: usize = 4096;
/// Messages up to this length take one kernel call for the payload and `E(J0)` together
/// (16 + 240 bytes = one 16-block group).
const FUSED_MAX: usize = 240;

/// An implementation of the SM4 block function, picked at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// GFNI S-box on AVX-512 lanes, VPCLMULQDQ GHASH. Constant-time.
    Gfni512,
    /// GFNI S-box on AVX2 lanes, PCLMULQDQ GHASH. Constant-time.
    Gfni256,
    /// AES-NI S-box with affine maps on AVX2 lanes (VAES), PCLMULQDQ GHASH. Constant-time.
    VaesAvx2,
    /// AES-NI S-box with affine maps on SSE lanes, PCLMULQDQ GHASH. Constant-time.
    AesNi,
    /// The `sm4` crate (table look-ups: NOT constant-time) with a bitwise GHASH.
    Soft,
}

/// Which SIMD kernel (the non-`Soft` backends; on targets other than x86-64 none exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// GFNI S-box, AVX-512 lanes (16 blocks per vector group), VPCLMULQDQ GHASH.
    Gfni512,
    /// GFNI S-box, AVX2 lanes (8 blocks per vector group), PCLMULQDQ GHASH.
    Gfni256,
    /// AES-NI S-box with affine pre/post maps on AVX2 lanes (VAES, 8 blocks), PCLMULQDQ GHASH.
    VaesAvx2,
    /// AES-NI S-box with affine pre/post maps, SSE lanes (4 blocks), PCLMULQDQ GHASH.
    AesNi,
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 5] = [
        Backend::Gfni512,
        Backend::Gfni256,
        Backend::VaesAvx2,
        Backend::AesNi,
        Backend::Soft,
    ];

    /// Its name in settings and reports ([`FORCE_BACKEND_ENV`](crate::FORCE_BACKEND_ENV),
    /// `tkms --version`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gfni512 => "gfni512",
            Backend::Gfni256 => "gfni256",
            Backend::VaesAvx2 => "vaes-avx2",
            Backend::AesNi => "aesni",
            Backend::Soft => "soft",
        }
    }

    /// The backend called `name` (see [`Backend::name`]).
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// False only for `Soft`, whose S-box is a table look-up indexed by secret bytes.
    pub fn is_constant_time(self) -> bool {
        self != Backend::Soft
    }

    /// True if this CPU has every instruction the backend needs (always for `Soft`).
    pub fn available(self) -> bool {
        self.kernel().is_some()
    }

    /// `None` if the CPU lacks the backend; `Some(None)` for `Soft`, which needs no kernel.
    fn kernel(self) -> Option<Option<Kernel>> {
        let kind = match self {
            Backend::Gfni512 => Kind::Gfni512,
            Backend::Gfni256 => Kind::Gfni256,
            Backend::VaesAvx2 => Kind::VaesAvx2,
            Backend::AesNi => Kind::AesNi,
            Backend::Soft => return Some(None),
        };
        Kernel::detect(kind).map(Some)
    }
}

/// SM4-GCM failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The tag did not verify (wrong key, nonce, AAD, ciphertext or tag). Deliberately opaque.
    DecryptionFailed,
    /// The message is longer than [`MAX_MESSAGE_LEN`].
    MessageTooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::DecryptionFailed => "SM4-GCM decryption failed",
            Error::MessageTooLong => "SM4-GCM message longer than 2^36 - 32 bytes",
        })
    }
}

impl std::error::Error for Error {}

// One per key and used on every call: keeping it inline avoids a pointer chase.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Simd {
        kernel: Kernel,
        rk: RoundKeys,
        ghash: GhashKey,
    },
    Soft {
        cipher: sm4::Sm4,
        h: SoftH,
    },
}

/// The GHASH key of the soft backend, zeroized on drop.
struct SoftH(u128);

impl Drop for SoftH {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// SM4-GCM with a 128-bit key; round keys and GHASH key are zeroized on drop.
pub struct Sm4Gcm {
    engine: Engine,
    backend: Backend,
}

impl fmt::Debug for Sm4Gcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm4Gcm")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Sm4Gcm {
    /// Uses the backend [`selection`](crate::selection) picks: the fastest this CPU supports,
    /// refusing the table-based `Soft` unless [`ALLOW_TABLE_ENV`](crate::ALLOW_TABLE_ENV) is `1`.
    pub fn new(key: &[u8; 16]) -> Result<Self, Refused> {
        let backend = crate::selection()?.backend;
        Ok(Self::with_backend(key, backend).expect("selection() checked the CPU has the backend"))
    }

    /// Uses `backend`, or returns `None` if this CPU lacks an instruction it needs. Hazmat:
    /// choosing `Soft` here bypasses the opt-in that [`Sm4Gcm::new`] enforces.
    pub fn with_backend(key: &[u8; 16], backend: Backend) -> Option<Self> {
        let engine = match backend.kernel()? {
            Some(kernel) => {
                let rk = RoundKeys::expand(key);
                let mut h = [[0u8; 16]];
                kernel.encrypt_blocks(&rk, &mut h);
                let ghash = kernel.ghash_key(&h[0]);
                h.zeroize();
                Engine::Simd { kernel, rk, ghash }
            }
            None => {
                let cipher = sm4::Sm4::new(key.into());
                let mut h = [0u8; 16].into();
                cipher.encrypt_block(&mut h);
                let mut bytes: [u8; 16] = h.into();
                let soft = SoftH(u128::from_be_bytes(bytes));
                bytes.zeroize();
                Engine::Soft { cipher, h: soft }
            }
        };
        Some(Sm4Gcm { engine, backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Hazmat: raw SM4 encryption of each block (ECB), for known-answer tests and for modes
    /// built on the block function (mock-hsm's white-box SM4-CBC, docs/whitebox.md).
    pub fn encrypt_blocks(&self, blocks: &mut [[u8; 16]]) {
        match &self.engine {
            Engine::Simd { kernel, rk, .. } => kernel.encrypt_blocks(rk, blocks),
            Engine::Soft { cipher, .. } => {
                for b in blocks {
                    cipher.encrypt_block(b.into());
                }
            }
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_in_place_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        self.seal(nonce, aad, None, buf)
    }

    /// Encrypts `input` into `output` and returns the tag: the same result as copying and
    /// sealing in place, in one pass over the data.
    ///
    /// # Panics
    /// If `input` and `output` differ in length.
    pub fn seal_detached_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        self.seal(nonce, aad, Some(input), output)
    }

    /// Verifies `tag` (in constant time) and decrypts `buf` in place. On failure `buf` is
    /// zeroized: unauthenticated plaintext is never released.
    pub fn open_in_place_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        self.open(nonce, aad, None, buf, tag)
    }

    /// Verifies `tag` (in constant time) and decrypts `input` into `output`, in one pass over
    /// the data. On failure `output` is zeroized: unauthenticated plaintext is never released.
    ///
    /// # Panics
    /// If `input` and `output` differ in length.
    pub fn open_detached_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        tag: &[u8; TAG_LEN],
        output: &mut [u8],
    ) -> Result<(), Error> {
        self.open(nonce, aad, Some(input), output, tag)
    }

    /// Seals `input` into `out`, or `out` in place without `input`.
    fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        check_len(out.len())?;
        let mut acc = [0u8; 16];
        self.ghash(&mut acc, aad);
        let data = Data::new(input, out);
        let mask = if data.len() <= FUSED_MAX {
            let buf = data.in_place();
            let mask = self.ctr_fused(nonce, buf);
            self.ghash(&mut acc, buf);
            mask
        } else {
            self.ctr_ghash(nonce, data, false, &mut acc);
            self.tag_mask(nonce)
        };
        Ok(self.finish(acc, mask, aad.len(), out.len()))
    }

    /// Opens `input` into `out`, or `out` in place without `input`; `out` is zeroized on
    /// failure.
    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: Option<&[u8]>,
        out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        if check_len(out.len()).is_err() {
            out.zeroize();
            return Err(Error::DecryptionFailed);
        }
        let mut acc = [0u8; 16];
        self.ghash(&mut acc, aad);
        let data = Data::new(input, out);
        let mask = if data.len() <= FUSED_MAX {
            let buf = data.in_place();
            self.ghash(&mut acc, buf);
            self.ctr_fused(nonce, buf)
        } else {
            self.ctr_ghash(nonce, data, true, &mut acc);
            self.tag_mask(nonce)
        };
        let expected = self.finish(acc, mask, aad.len(), out.len());
        if bool::from(expected.ct_eq(tag)) {
            Ok(())
        } else {
            out.zeroize();
            Err(Error::DecryptionFailed)
        }
    }

    /// Absorbs the length block and masks the hash with `mask = E(J0)`.
    fn finish(
        &self,
        mut acc: [u8; 16],
        mask: [u8; 16],
        aad_len: usize,
        len: usize,
    ) -> [u8; TAG_LEN] {
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&((aad_len as u64) * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&((len as u64) * 8).to_be_bytes());
        self.ghash(&mut acc, &lengths);
        acc.iter_mut().zip(mask).for_each(|(a, m)| *a ^= m);
        acc
    }

    /// `E(J0)`, the tag mask.
    fn tag_mask(&self, nonce: &[u8; NONCE_LEN]) -> [u8; 16] {
        let mut mask = [0u8; 16];
        self.ctr_xor(nonce, 1, &mut mask);
        mask
    }

    /// For short messages: the tag mask `E(J0)` and the payload keystream (from counter 2)
    /// in one kernel call, which runs a whole group of blocks anyway.
    fn ctr_fused(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; 16] {
        let mut scratch = [0u8; 16 + FUSED_MAX];
        let used = &mut scratch[..16 + buf.len()];
        used[16..].copy_from_slice(buf);
        self.ctr_xor(nonce, 1, used);
        buf.copy_from_slice(&used[16..]);
        let mut mask = [0u8; 16];
        mask.copy_from_slice(&used[..16]);
        scratch.zeroize();
        mask
    }

    fn ctr_xor(&self, nonce: &[u8; NONCE_LEN], ctr: u32, buf: &mut [u8]) {
        match &self.engine {
            Engine::Simd { kernel, rk, .. } => kernel.ctr_xor(rk, nonce, ctr, buf),
            Engine::Soft { cipher, .. } => {
                let mut ctr = ctr;
                for chunk in buf.chunks_mut(16) {
                    let mut block = [0u8; 16];
                    block[..12].copy_from_slice(nonce);
                    block[12..].copy_from_slice(&ctr.to_be_bytes());
                    cipher.encrypt_block((&mut block).into());
                    chunk.iter_mut().zip(&block).for_each(|(d, k)| *d ^= k);
                    block.zeroize();
                    ctr = ctr.wrapping_add(1);
                }
            }
        }
    }

    /// The payload's CTR pass (from counter 2) and its GHASH into `acc`: GHASH reads the
    /// ciphertext, so the input when opening, the output when sealing.
    fn ctr_ghash(&self, nonce: &[u8; NONCE_LEN], data: Data<'_>, open: bool, acc: &mut [u8; 16]) {
        match &self.engine {
            Engine::Simd { kernel, rk, ghash } => {
                kernel.ctr_ghash(rk, ghash, nonce, 2, data, open, acc);
            }
            Engine::Soft { .. } => {
                let mut ctr = 2u32;
                for chunk in data.in_place().chunks_mut(CHUNK) {
                    if open {
                        self.ghash(acc, chunk);
                    }
                    self.ctr_xor(nonce, ctr, chunk);
                    if !open {
                        self.ghash(acc, chunk);
                    }
                    ctr = ctr.wrapping_add((CHUNK / 16) as u32);
                }
            }
        }
    }

    fn ghash(&self, acc: &mut [u8; 16], data: &[u8]) {
        match &self.engine {
            Engine::Simd { kernel, ghash, .. } => kernel.ghash(ghash, acc, data),
            Engine::Soft { h, .. } => {
                let mut x = u128::from_be_bytes(*acc);
                for chunk in data.chunks(16) {
                    let mut block = [0u8; 16];
                    block[..chunk.len()].copy_from_slice(chunk);
                    x = gf128_mul(x ^ u128::from_be_bytes(block), h.0);
                }
                *acc = x.to_be_bytes();
            }
        }
    }
}

/// The bytes one seal or open transforms: in place, or from an input into an output of the
/// same length.
pub(crate) enum Data<'a> {
    InPlace(&'a mut [u8]),
    Into {
        input: &'a [u8],
        output: &'a mut [u8],
    },
}

impl<'a> Data<'a> {
    /// `out` in place without `input`.
    ///
    /// # Panics
    /// If `input` and `out` differ in length.
    fn new(input: Option<&'a [u8]>, out: &'a mut [u8]) -> Self {
        match input {
            None => Data::InPlace(out),
            Some(input) => {
                assert_eq!(input.len(), out.len(), "input and output lengths differ");
                Data::Into { input, output: out }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Data::InPlace(buf) => buf.len(),
            Data::Into { output, .. } => output.len(),
        }
    }

    /// The output holding a copy of the input, for the paths that work in place only (short
    /// messages, whose copy is cheap, and `Soft`).
    fn in_place(self) -> &'a mut [u8] {
        match self {
            Data::InPlace(buf) => buf,
            Data::Into { input, output } => {
                output.copy_from_slice(input);
                output
            }
        }
    }

    /// `(src, dst, len)` for the kernels: the same pointer twice in place; otherwise two
    /// disjoint buffers (one is borrowed mutably, so they cannot overlap). Consumes `self`,
    /// so no reference to the buffers outlives the pointers' creation here.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn raw(self) -> (*const u8, *mut u8, usize) {
        match self {
            Data::InPlace(buf) => {
                let p = buf.as_mut_ptr();
                (p.cast_const(), p, buf.len())
            }
            Data::Into { input, output } => (input.as_ptr(), output.as_mut_ptr(), output.len()),
        }
    }
}

fn check_len(len: usize) -> Result<(), Error> {
    if len as u64 > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLong);
    }
    Ok(())
}

/// GF(2¹²⁸) product in GCM's bit order (SP 800-38D Algorithm 1), branch-free.
fn gf128_mul(x: u128, y: u128) -> u128 {
    let mut z = 0u128;
    let mut v = y;
    for i in 0..128 {
        let bit = (x >> (127 - i)) & 1;
        z ^= v & 0u128.wrapping_sub(bit);
        let lsb = v & 1;
        v = (v >> 1) ^ ((0xe1u128 << 120) & 0u128.wrapping_sub(lsb));
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limit_is_sp800_38d() {
        assert_eq!(check_len(0), Ok(()));
        assert_eq!(check_len((1 << 36) - 32), Ok(()));
        assert_eq!(check_len((1 << 36) - 31), Err(Error::MessageTooLong));
    }

    #[test]
    fn soft_ghash_multiplication_matches_sp800_38d_test_case_2() {
        // SP 800-38D / GCM spec test case 2: H = E_K(0) for the all-zero AES-128 key,
        // C = 0388dace60b6a392f328c2b971b2fe78, GHASH(H, {}, C) = f38cbb1ad69223dcc3457ae5b6b0f885.
        let h = 0x66e9_4bd4_ef8a_2c3b_884c_fa59_ca34_2b2eu128;
        let c = 0x0388_dace_60b6_a392_f328_c2b9_71b2_fe78u128;
        let x = gf128_mul(c, h);
        let x = gf128_mul(x ^ 128, h);
        assert_eq!(x, 0xf38c_bb1a_d692_23dc_c345_7ae5_b6b0_f885);
    }
}
