//! The out-of-place entry points (`seal_detached_into`, `open_detached_into`) on every backend:
//! the same ciphertext and tag as sealing in place and as the `Soft` backend, for every length
//! 0..300 and around the group, GHASH-aggregation and chunk boundaries, with input and output
//! at different misalignments; the input is never written, and a failed open zeroes the output.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{cpu_has, forced, ran};
use tkms_sm4::{Backend, Error, Sm4Gcm};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed))
        .collect()
}

/// Lengths 0..300, and around 256 B to 64 KiB (groups of 4/8/16 blocks, interleaved groups
/// of 512 B and 1 KiB, 8/16-block GHASH reductions, `Soft`'s 4 KiB chunks).
fn lengths() -> Vec<usize> {
    let mut lens: Vec<usize> = (0..300).collect();
    for edge in [512, 1024, 1536, 2048, 4096, 8192, 65536] {
        lens.extend(edge - 17..=edge + 17);
    }
    lens
}

/// `msg` placed `offset` bytes into a fresh buffer (so its address is misaligned by that much).
fn placed(msg: &[u8], offset: usize) -> Vec<u8> {
    let mut storage = vec![0xa5u8; offset + msg.len()];
    storage[offset..].copy_from_slice(msg);
    storage
}

/// Out of place against in place (same backend) and against `Soft`, then opened back out of
/// place; a flipped tag bit and a flipped ciphertext bit are refused with the output zeroed.
fn check(gcm: &Sm4Gcm, soft: &Sm4Gcm, len: usize, in_off: usize, out_off: usize) {
    let backend = gcm.backend();
    let (nonce, aad, msg) = ([len as u8; 12], pattern(len % 41, 7), pattern(len, 1));

    let mut expected = msg.clone();
    let expected_tag = soft
        .seal_in_place_detached(&nonce, &aad, &mut expected)
        .unwrap();
    let mut in_place = msg.clone();
    let in_place_tag = gcm
        .seal_in_place_detached(&nonce, &aad, &mut in_place)
        .unwrap();
    assert_eq!(in_place, expected, "{backend:?} in place, len {len}");
    assert_eq!(
        in_place_tag, expected_tag,
        "{backend:?} in-place tag, len {len}"
    );

    let input = placed(&msg, in_off);
    let mut out = placed(&vec![0x5a; len], out_off);
    let tag = gcm
        .seal_detached_into(&nonce, &aad, &input[in_off..], &mut out[out_off..])
        .unwrap();
    assert_eq!(
        &input[in_off..],
        msg.as_slice(),
        "{backend:?} seal wrote its input"
    );
    assert_eq!(
        &out[out_off..],
        expected.as_slice(),
        "{backend:?} seal_into, len {len}"
    );
    assert_eq!(tag, expected_tag, "{backend:?} seal_into tag, len {len}");
    assert!(
        out[..out_off].iter().all(|&b| b == 0xa5),
        "wrote before the output"
    );

    let sealed = placed(&expected, in_off);
    let mut plain = placed(&vec![0x5a; len], out_off);
    gcm.open_detached_into(&nonce, &aad, &sealed[in_off..], &tag, &mut plain[out_off..])
        .unwrap();
    assert_eq!(
        &plain[out_off..],
        msg.as_slice(),
        "{backend:?} open_into, len {len}"
    );
    assert_eq!(
        &sealed[in_off..],
        expected.as_slice(),
        "{backend:?} open wrote its input"
    );

    let mut bad_tag = tag;
    bad_tag[len % 16] ^= 0x80;
    let mut bad_ct = expected.clone();
    if let Some(b) = bad_ct.get_mut(len / 2) {
        *b ^= 1;
    }
    let attempts: Vec<(&[u8], [u8; 16])> = if len > 0 {
        vec![(&expected, bad_tag), (&bad_ct, tag)]
    } else {
        vec![(&expected, bad_tag)]
    };
    for (ciphertext, t) in attempts {
        let mut out = placed(&vec![0x5a; len], out_off);
        assert_eq!(
            gcm.open_detached_into(&nonce, &aad, ciphertext, &t, &mut out[out_off..]),
            Err(Error::DecryptionFailed),
            "{backend:?} forged open, len {len}"
        );
        assert!(
            out[out_off..].iter().all(|&b| b == 0),
            "{backend:?} released unauthenticated plaintext, len {len}"
        );
    }
}

#[test]
fn out_of_place_matches_in_place_and_soft_every_backend() {
    let key = [0x42u8; 16];
    let soft = Sm4Gcm::with_backend(&key, Backend::Soft).unwrap();
    let mut ran_here = Vec::new();
    for backend in Backend::ALL {
        let Some(gcm) = forced(&key, backend, "out_of_place") else {
            continue;
        };
        for (i, len) in lengths().into_iter().enumerate() {
            // Input and output misaligned differently (offsets 0..15 and 0..11).
            check(&gcm, &soft, len, i % 16, (i * 7 + 3) % 12);
        }
        // One large message, both buffers aligned and both misaligned.
        check(&gcm, &soft, (1 << 20) + 5, 0, 0);
        check(&gcm, &soft, (1 << 20) + 5, 3, 9);
        ran(backend);
        ran_here.push(backend);
    }
    for backend in Backend::ALL {
        assert!(
            !cpu_has(backend) || ran_here.contains(&backend),
            "{backend:?} is available but did not run"
        );
    }
}

#[test]
#[should_panic(expected = "input and output lengths differ")]
fn seal_into_refuses_different_lengths() {
    let gcm = Sm4Gcm::with_backend(&[1; 16], Backend::Soft).unwrap();
    let _ = gcm.seal_detached_into(&[0; 12], b"", &[0; 10], &mut [0; 11]);
}

#[test]
#[should_panic(expected = "input and output lengths differ")]
fn open_into_refuses_different_lengths() {
    let gcm = Sm4Gcm::with_backend(&[1; 16], Backend::Soft).unwrap();
    let _ = gcm.open_detached_into(&[0; 12], b"", &[0; 300], &[0; 16], &mut [0; 299]);
}
