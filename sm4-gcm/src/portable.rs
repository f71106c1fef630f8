//! Stand-in for `simd` on targets other than x86-64: no kernel is ever available, so
//! every `Sm4Gcm` uses the `Soft` backend. The types exist only so `gcm.rs` compiles
//! unchanged; `Kernel` is uninhabited.

use crate::gcm::{Data, Kind};
use crate::sbox::RoundKeys;

/// Uninhabited: no SIMD kernel on this target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {}

/// Never constructed.
pub(crate) struct GhashKey;

impl Kernel {
    pub(crate) fn detect(_kind: Kind) -> Option<Self> {
        None
    }

    pub(crate) fn ctr_xor(self, _rk: &RoundKeys, _nonce: &[u8; 12], _ctr: u32, _buf: &mut [u8]) {
        match self {}
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ctr_ghash(
        self,
        _rk: &RoundKeys,
        _key: &GhashKey,
        _nonce: &[u8; 12],
        _ctr: u32,
        _data: Data<'_>,
        _open: bool,
        _acc: &mut [u8; 16],
    ) {
        match self {}
    }

    pub(crate) fn encrypt_blocks(self, _rk: &RoundKeys, _blocks: &mut [[u8; 16]]) {
        match self {}
    }

    pub(crate) fn ghash_key(self, _h: &[u8; 16]) -> GhashKey {
        match self {}
    }

    pub(crate) fn ghash(self, _key: &GhashKey, _acc: &mut [u8; 16], _data: &[u8]) {
        match self {}
    }
}
