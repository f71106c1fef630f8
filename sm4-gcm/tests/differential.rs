//! Differential tests against RustCrypto's generic GCM over the `sm4` crate, on each backend.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use common::forced;
use proptest::prelude::*;
use tkms_sm4::{Backend, Error};

type Reference = AesGcm<sm4::Sm4, U12>;

/// Seals with `backend` and the reference at `offset` into a larger buffer (unaligned),
/// compares, then opens, then checks a flipped tag is refused and wipes the buffer.
fn check(backend: Backend, key: [u8; 16], nonce: [u8; 12], aad: &[u8], msg: &[u8], offset: usize) {
    let Some(gcm) = forced(&key, backend, "differential") else {
        return;
    };
    let reference = Reference::new(&key.into());
    let mut expected = msg.to_vec();
    let expected_tag = reference
        .encrypt_inout_detached(&nonce.into(), aad, expected.as_mut_slice().into())
        .unwrap();

    let mut storage = vec![0u8; msg.len() + offset];
    let buf = &mut storage[offset..];
    buf.copy_from_slice(msg);
    let tag = gcm.seal_in_place_detached(&nonce, aad, buf).unwrap();
    assert_eq!(
        buf,
        expected.as_slice(),
        "{backend:?} ciphertext, len {}",
        msg.len()
    );
    assert_eq!(
        tag.as_slice(),
        expected_tag.as_slice(),
        "{backend:?} tag, len {}",
        msg.len()
    );

    gcm.open_in_place_detached(&nonce, aad, buf, &tag).unwrap();
    assert_eq!(buf, msg);

    let mut ct = expected.clone();
    let mut bad = tag;
    bad[15] ^= 1;
    assert_eq!(
        gcm.open_in_place_detached(&nonce, aad, &mut ct, &bad),
        Err(Error::DecryptionFailed)
    );
    assert!(
        ct.iter().all(|&b| b == 0),
        "unauthenticated plaintext released"
    );
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Every length around the group, chunk and GHASH aggregation boundaries.
#[test]
fn boundary_lengths_every_backend() {
    let mut lens: Vec<usize> = (0..=600).collect();
    for edge in [1024, 2048, 4096, 8192, 65536] {
        lens.extend(edge - 17..=edge + 17);
    }
    lens.push(1 << 20);
    for backend in Backend::ALL {
        for &len in &lens {
            let aad = pattern(len % 67, 3);
            check(
                backend,
                [len as u8; 16],
                [7; 12],
                &aad,
                &pattern(len, 1),
                len % 5,
            );
        }
    }
}

/// A long AAD exercises the wide GHASH path on its own.
#[test]
fn long_aad_every_backend() {
    for backend in Backend::ALL {
        for len in [255, 256, 257, 4095, 4096, 5000] {
            check(
                backend,
                [9; 16],
                [1; 12],
                &pattern(len, 5),
                &pattern(33, 2),
                3,
            );
        }
    }
}

fn inputs() -> impl Strategy<Value = ([u8; 16], [u8; 12], Vec<u8>, Vec<u8>, usize)> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 12]>(),
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(any::<u8>(), 0..6000),
        0usize..16,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_reference_gfni512((key, nonce, aad, msg, off) in inputs()) {
        check(Backend::Gfni512, key, nonce, &aad, &msg, off);
    }

    #[test]
    fn matches_reference_gfni256((key, nonce, aad, msg, off) in inputs()) {
        check(Backend::Gfni256, key, nonce, &aad, &msg, off);
    }

    #[test]
    fn matches_reference_vaes_avx2((key, nonce, aad, msg, off) in inputs()) {
        check(Backend::VaesAvx2, key, nonce, &aad, &msg, off);
    }

    #[test]
    fn matches_reference_aesni((key, nonce, aad, msg, off) in inputs()) {
        check(Backend::AesNi, key, nonce, &aad, &msg, off);
    }

    #[test]
    fn matches_reference_soft((key, nonce, aad, msg, off) in inputs()) {
        check(Backend::Soft, key, nonce, &aad, &msg, off);
    }
}
