//! SM4-GCM (GB/T 32907 block cipher, NIST SP 800-38D mode, RFC 8998), constant-time on x86-64
//! CPUs with AES-NI and PCLMULQDQ; elsewhere refused unless the user opts in (see below).
//!
//! ```
//! use tkms_sm4::Sm4Gcm;
//! let gcm = Sm4Gcm::new(&[7u8; 16])?;
//! let mut buf = *b"attack at dawn";
//! let tag = gcm.seal_in_place_detached(&[1u8; 12], b"aad", &mut buf)?;
//! gcm.open_in_place_detached(&[1u8; 12], b"aad", &mut buf, &tag)?;
//! assert_eq!(&buf, b"attack at dawn");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! SM4 is a 32-round unbalanced Feistel cipher on four 32-bit words whose only non-linear
//! part is an 8-bit S-box. Software usually looks the S-box up in a table, which is slow
//! and leaks the index through the cache. There are two constant-time alternatives:
//!
//! - **bitslicing** (the S-box as a ~120-gate boolean circuit over 8 bit-planes): portable,
//!   but needs a costly bit transpose and many instructions per byte;
//! - **the AES field**: the SM4 S-box is `A·inv(A·x + c) + c` with inversion in GF(2⁸)
//!   modulo 0x1F5. A field isomorphism moves that inversion into AES's field (mod 0x11B),
//!   which the CPU computes in hardware: GFNI's `gf2p8affineinvqb` (inversion followed by an
//!   arbitrary affine map) gives the S-box in two instructions per vector with
//!   `gf2p8affineqb` for the map in; AES-NI's `aesenclast` (inversion plus AES's own affine
//!   map and ShiftRows) needs byte shuffles around it. The affine maps are derived in
//!   `tools/derive_affine.py` and checked against the standard's table for all 256 inputs.
//!
//! This crate uses the second. Blocks are word-sliced: each vector holds the same word of
//! 4/8/16 blocks, so one round updates every block of a group, and several groups are
//! interleaved to hide the latency of a round. The CTR counter blocks are built directly
//! in that layout (three of the four words are the nonce). GHASH uses carry-less
//! multiplication in the POLYVAL domain with aggregated reduction over 8 (PCLMULQDQ) or
//! 16 (VPCLMULQDQ) blocks.
//!
//! # Backends
//!
//! [`Sm4Gcm::new`] picks the fastest [`Backend`] the CPU has at run time ([`selection`]):
//! [`Backend::Gfni512`] (GFNI + AVX-512 + VPCLMULQDQ), [`Backend::Gfni256`] (GFNI + AVX2),
//! [`Backend::VaesAvx2`] (VAES + AVX2), [`Backend::AesNi`] (AES-NI + SSSE3) — all with
//! PCLMULQDQ, all free of secret-dependent branches and memory accesses — and last
//! [`Backend::Soft`], which uses the `sm4` crate.
//! **The `Soft` fallback uses table look-ups and is not constant-time**: [`Sm4Gcm::new`] refuses
//! it (returns [`Refused`]) unless the environment variable [`ALLOW_TABLE_ENV`]
//! (`TKMS_SM4_ALLOW_TABLE=1`) opts in; [`Selection::opted_in`] tells front ends to warn.
//!
//! All `unsafe` code (the intrinsics) lives in the private `simd` module. On targets other
//! than x86-64 only `Soft` exists.

#![deny(missing_docs)]
// Without the x86-64 kernels the constant-time key schedule and S-box maps go unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

mod gcm;
mod policy;
mod sbox;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd;
#[cfg(not(target_arch = "x86_64"))]
#[path = "portable.rs"]
mod simd;

pub use gcm::{Backend, Error, MAX_MESSAGE_LEN, NONCE_LEN, Sm4Gcm, TAG_LEN};
pub use policy::{ALLOW_TABLE_ENV, FORCE_BACKEND_ENV, Refused, Selection, selection};
