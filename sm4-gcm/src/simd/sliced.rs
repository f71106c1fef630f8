//! Word-sliced SM4-CTR and SM4-ECB, written once over a [`Backend`]: a lane width
//! ([`Lanes`]) and an S-box instruction. Everything here is `#[inline(always)]` and
//! compiled into each backend's `#[target_feature]` entry points (see [`entry_points`]), so
//! every backend gets its own copy specialised to its instructions.
//!
//! # Safety (every `unsafe fn` here)
//! The caller's `#[target_feature]` set includes every feature `B`'s lanes and S-box use.

use super::BSWAP32;
use super::lanes::{AesLanes, GfniLanes, Lanes};
use crate::sbox::{AESNI_POST_HI, AESNI_POST_LO, PRE_HI, PRE_LO};
use core::marker::PhantomData;
use zeroize::Zeroize;

/// A lane width with an SM4 S-box on it.
pub(super) trait Backend {
    type V: Lanes;
    /// SM4's S-box τ on every byte of `x`, constant-time.
    ///
    /// # Safety
    /// As for [`Lanes`].
    unsafe fn tau(x: Self::V) -> Self::V;
}

/// The GFNI S-box on lanes `V` (see [`GfniLanes`]).
pub(super) struct Gfni<V>(PhantomData<V>);

impl<V: GfniLanes> Backend for Gfni<V> {
    type V = V;

    #[inline(always)]
    unsafe fn tau(x: V) -> V {
        // SAFETY: the caller enables V's and GFNI's features (trait contract).
        unsafe { x.gfni_tau() }
    }
}

/// The AES-NI S-box on lanes `V`: `aesenclast` with a zero round key computes
/// `ShiftRows(AES_SBOX(x))`, and the AES S-box is AES_AFFINE(inv(x)). A pre-shuffle by
/// InvShiftRows cancels ShiftRows; nibble-table `pshufb`s (in-register, constant-time)
/// apply the SM4→AES-field map before and the AES→SM4 map after.
pub(super) struct AesNi<V>(PhantomData<V>);

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

impl<V: AesLanes> Backend for AesNi<V> {
    type V = V;

    #[inline(always)]
    unsafe fn tau(x: V) -> V {
        // SAFETY: the caller enables V's and AES's features (trait contract); no memory is
        // accessed but the 16-byte constant tables.
        unsafe {
            let y = x.nibble_map(V::mask(&PRE_LO), V::mask(&PRE_HI));
            let z = y.shuffle(V::mask(&INV_SHIFT_ROWS)).aesenclast0();
            z.nibble_map(V::mask(&AESNI_POST_LO), V::mask(&AESNI_POST_HI))
        }
    }
}

/// Two rounds on every group: `x[t] ^= T(x[a] ^ x[b] ^ x[c] ^ k0)`, then
/// `x[a] ^= T(x[b] ^ x[c] ^ x[t] ^ k1)`, T being τ then L. Both read `x[b] ^ x[c]`, so it is
/// computed once: three XORs of vectors for the two round inputs instead of four (two
/// `vpternlogd` instead of four instructions on AVX-512), about 5 % of a round.
#[inline(always)]
unsafe fn round_pair<B: Backend, const G: usize>(
    x: &mut [[B::V; 4]; G],
    [t, a, b, c]: [usize; 4],
    [k0, k1]: [u32; 2],
) {
    // SAFETY: the features are enabled (this fn's contract); no memory is accessed.
    unsafe {
        let (k0, k1) = (B::V::splat(k0), B::V::splat(k1));
        let shared = x.map(|g| g[b].xor(g[c]));
        for (g, p) in x.iter_mut().zip(shared) {
            let s = B::tau(B::V::xor3(p, g[a], k0));
            g[t] = g[t].xor(B::V::linear(s));
        }
        for (g, p) in x.iter_mut().zip(shared) {
            let s = B::tau(B::V::xor3(p, g[t], k1));
            g[a] = g[a].xor(B::V::linear(s));
        }
    }
}

/// 32 rounds on word-sliced groups, then the final word reversal, byte swap and transpose:
/// on return `x[g][r]` holds blocks `r·BLOCKS/4..` of group `g` in memory byte order.
#[inline(always)]
unsafe fn rounds<B: Backend, const G: usize>(rk: &[u32; 32], x: &mut [[B::V; 4]; G]) {
    // SAFETY: the features are enabled (this fn's contract); no memory is accessed but
    // the 16 bytes of BSWAP32.
    unsafe {
        for r in rk.chunks_exact(4) {
            round_pair::<B, G>(x, [0, 1, 2, 3], [r[0], r[1]]);
            round_pair::<B, G>(x, [2, 3, 0, 1], [r[2], r[3]]);
        }
        let bswap = B::V::mask(&BSWAP32);
        for g in x.iter_mut() {
            let y = [g[3], g[2], g[1], g[0]].map(|v| v.shuffle(bswap));
            *g = B::V::transpose(y);
        }
    }
}

/// Keystream for `G` groups starting at counter `ctr`.
#[inline(always)]
unsafe fn keystream<B: Backend, const G: usize>(
    rk: &[u32; 32],
    nonce: [u32; 3],
    ctr: u32,
) -> [[B::V; 4]; G] {
    // SAFETY: the features are enabled (this fn's contract); `counter_offsets` loads one
    // vector from an array of exactly that size.
    unsafe {
        let offsets = B::V::counter_offsets();
        let mut x = [[B::V::zero(); 4]; G];
        for (i, g) in x.iter_mut().enumerate() {
            let base = B::V::splat(ctr.wrapping_add((i * B::V::BLOCKS) as u32));
            *g = [
                B::V::splat(nonce[0]),
                B::V::splat(nonce[1]),
                B::V::splat(nonce[2]),
                base.add32(offsets),
            ];
        }
        rounds::<B, G>(rk, &mut x);
        x
    }
}

/// Bytes per vector: 16 per 128-bit lane, 4 blocks per lane in a group.
const fn vector_bytes<V: Lanes>() -> usize {
    4 * V::BLOCKS
}

/// XORs the keystream `ks` into the `G` groups at `src` and stores them at `dst`.
///
/// # Safety
/// Beyond the module's: `src` readable and `dst` writable for `G` groups, equal or disjoint.
#[inline(always)]
unsafe fn xor_groups<B: Backend, const G: usize>(
    ks: &[[B::V; 4]; G],
    src: *const u8,
    dst: *mut u8,
) {
    let n = vector_bytes::<B::V>();
    for (i, v) in ks.iter().flatten().enumerate() {
        // SAFETY: bytes n·i..n·(i+1) lie within the G groups for i < 4G (this fn's
        // contract); an equal `src` and `dst` is loaded before it is stored.
        unsafe { B::V::load(src.add(n * i)).xor(*v).store(dst.add(n * i)) };
    }
}

/// GCM's CTR pass over `len` bytes from `src` to `dst`, with the keystream from counter
/// `ctr` (`WIDE` groups interleaved on the bulk path), GHASH stitched in: each stretch of
/// ciphertext goes to `hash` while it is in L1 cache, the input before it is decrypted
/// (`hash_input`) or the output after it is encrypted. The hash of one stretch and the
/// rounds of the next are independent, so the CPU overlaps them. `hash` sees whole blocks
/// but for its last call.
///
/// # Safety
/// Beyond the module's: `src` readable and `dst` writable for `len` bytes, equal (in place)
/// or disjoint, and no reference to either is live during the call.
#[inline(always)]
pub(super) unsafe fn ctr_hash<B: Backend, const WIDE: usize>(
    rk: &[u32; 32],
    nonce: [u32; 3],
    mut ctr: u32,
    (src, dst, len): (*const u8, *mut u8, usize),
    hash_input: bool,
    hash: &mut impl FnMut(&[u8]),
) {
    let group = B::V::BLOCKS * 16;
    let mut at = 0;
    // SAFETY (of the pointer arithmetic and slices below): every stretch `at..at + n` is
    // within `len`, so within both buffers (this fn's contract); a shared slice of a stretch
    // lives only while nothing writes it.
    unsafe {
        while len - at >= WIDE * group {
            if hash_input {
                hash(core::slice::from_raw_parts(src.add(at), WIDE * group));
            }
            let ks = keystream::<B, WIDE>(rk, nonce, ctr);
            xor_groups::<B, WIDE>(&ks, src.add(at), dst.add(at));
            if !hash_input {
                hash(core::slice::from_raw_parts(dst.add(at), WIDE * group));
            }
            at += WIDE * group;
            ctr = ctr.wrapping_add((WIDE * B::V::BLOCKS) as u32);
        }
        while len - at >= group {
            if hash_input {
                hash(core::slice::from_raw_parts(src.add(at), group));
            }
            xor_groups::<B, 1>(&keystream::<B, 1>(rk, nonce, ctr), src.add(at), dst.add(at));
            if !hash_input {
                hash(core::slice::from_raw_parts(dst.add(at), group));
            }
            at += group;
            ctr = ctr.wrapping_add(B::V::BLOCKS as u32);
        }
        let tail = len - at;
        if tail > 0 {
            if hash_input {
                hash(core::slice::from_raw_parts(src.add(at), tail));
            }
            // Room for the widest group; may hold plaintext, so wiped after.
            let mut block = [0u8; 16 * 16];
            core::ptr::copy_nonoverlapping(src.add(at), block.as_mut_ptr(), tail);
            let p = block.as_mut_ptr();
            xor_groups::<B, 1>(&keystream::<B, 1>(rk, nonce, ctr), p, p);
            core::ptr::copy_nonoverlapping(block.as_ptr(), dst.add(at), tail);
            block.zeroize();
            if !hash_input {
                hash(core::slice::from_raw_parts(dst.add(at), tail));
            }
        }
    }
}

/// XORs the keystream from counter `ctr` on into `buf` (see `Kernel::ctr_xor`).
#[inline(always)]
pub(super) unsafe fn ctr_xor<B: Backend, const WIDE: usize>(
    rk: &[u32; 32],
    nonce: [u32; 3],
    ctr: u32,
    buf: &mut [u8],
) {
    let p = buf.as_mut_ptr();
    // SAFETY: the features are enabled (this fn's contract); `buf` is readable and writable
    // for its length, in place, and used only through `p` during the call.
    unsafe { ctr_hash::<B, WIDE>(rk, nonce, ctr, (p, p, buf.len()), false, &mut |_| {}) }
}

/// Encrypts each block independently (raw SM4, for known-answer tests).
#[inline(always)]
pub(super) unsafe fn encrypt_blocks<B: Backend>(rk: &[u32; 32], blocks: &mut [[u8; 16]]) {
    let n = vector_bytes::<B::V>();
    for chunk in blocks.chunks_mut(B::V::BLOCKS) {
        let mut buf = [[0u8; 16]; 16]; // room for the widest group
        buf[..chunk.len()].copy_from_slice(chunk);
        let bytes = buf.as_flattened_mut();
        // SAFETY: the features are enabled (this fn's contract); a group is 4 vectors of
        // `n` bytes, so bytes n·r..n·(r+1) of `bytes` (256 ≥ 4n) are in bounds for r < 4.
        unsafe {
            let bswap = B::V::mask(&BSWAP32);
            let mut y = [B::V::zero(); 4];
            for (r, v) in y.iter_mut().enumerate() {
                *v = B::V::load(bytes.as_ptr().add(n * r)).shuffle(bswap);
            }
            let mut x = [B::V::transpose(y)];
            rounds::<B, 1>(rk, &mut x);
            for (r, v) in x[0].iter().enumerate() {
                v.store(bytes.as_mut_ptr().add(n * r));
            }
        }
        chunk.copy_from_slice(&buf[..chunk.len()]);
    }
}

/// Defines a backend's `ctr_xor`, `ctr_ghash` and `encrypt_blocks` (the signatures `Kernel`
/// calls) as `#[target_feature(enable = $features)]` functions over the generic bodies above,
/// interleaving `$wide` groups on the CTR bulk path and hashing with `$ghash`.
macro_rules! entry_points {
    ($backend:ty, $wide:literal, $ghash:path, $features:literal) => {
        #[target_feature(enable = $features)]
        pub(super) fn ctr_xor(rk: &[u32; 32], nonce: [u32; 3], ctr: u32, buf: &mut [u8]) {
            // SAFETY: `$features` are all the features the backend uses.
            unsafe { super::sliced::ctr_xor::<$backend, $wide>(rk, nonce, ctr, buf) }
        }

        #[target_feature(enable = $features)]
        pub(super) fn ctr_ghash(
            rk: &[u32; 32],
            nonce: [u32; 3],
            ctr: u32,
            data: crate::gcm::Data<'_>,
            hash_input: bool,
            key: &super::GhashKey,
            acc: &mut [u8; 16],
        ) {
            let mut hash = |ciphertext: &[u8]| $ghash(key, acc, ciphertext);
            // SAFETY: `$features` are all the features the backend and `$ghash` use;
            // `raw` gives the buffers of `data`, which it consumes, equal or disjoint.
            unsafe {
                super::sliced::ctr_hash::<$backend, $wide>(
                    rk,
                    nonce,
                    ctr,
                    data.raw(),
                    hash_input,
                    &mut hash,
                )
            }
        }

        #[target_feature(enable = $features)]
        pub(super) fn encrypt_blocks(rk: &[u32; 32], blocks: &mut [[u8; 16]]) {
            // SAFETY: as in `ctr_xor`.
            unsafe { super::sliced::encrypt_blocks::<$backend>(rk, blocks) }
        }
    };
}
pub(super) use entry_points;
