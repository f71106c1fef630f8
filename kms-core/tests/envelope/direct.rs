//! Whole frames sealed straight from the writer's buffer and opened straight into the reader's
//! (docs/performance.md, "tkms CLI at the memory-copy limit"): the final flag still lands on the
//! last frame only, and a bad frame still stops the plaintext at the frame before it.

use std::io::{Read, Write};

use kms_core::{
    DecryptError, Decryptor, EncryptOptions, EncryptionContext, Encryptor, Suite, decrypt,
    parse_header,
};

use crate::support::{TestKey, inner, pattern};

const FS: usize = 64;
const SLOT: usize = FS + 16;

fn options(suite: Suite) -> EncryptOptions {
    EncryptOptions {
        suite,
        frame_size: FS as u32,
        ..EncryptOptions::default()
    }
}

fn stream(plaintext: &[u8], key: &TestKey, opts: &EncryptOptions, writes: &[usize]) -> Vec<u8> {
    let mut enc = Encryptor::new(Vec::new(), &[key], opts).unwrap();
    let mut rest = plaintext;
    for &n in writes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = n.min(rest.len());
        enc.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
    }
    enc.finish().unwrap()
}

/// A message of whole frames written in whole frames ends on a frame that was sealed before the
/// end was known: it must carry the final flag, and the frame before it must not.
#[test]
fn whole_frame_writes_put_the_final_flag_on_the_last_frame_only() {
    let key = TestKey::new(90);
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let opts = options(suite);
        // 32 frames fill a batch; 33 and 65 cross into the next.
        for frames in [1, 2, 31, 32, 33, 64, 65] {
            let plaintext = pattern(frames * FS);
            for writes in [
                &[FS][..],
                &[2 * FS],
                &[33 * FS],
                &[FS * frames],
                &[10, FS, 3 * FS - 10],
            ] {
                let envelope = stream(&plaintext, &key, &opts, writes);
                let (_, header_len) = parse_header(&envelope).unwrap();
                assert_eq!(
                    envelope.len(),
                    header_len + frames * SLOT,
                    "{frames} frames"
                );
                assert_eq!(
                    decrypt(&envelope, &[&key], &opts.context).unwrap(),
                    plaintext,
                    "{frames} frames, writes {writes:?}"
                );
                // Without its last frame the message is truncated, not complete: the frame
                // before the last is non-final.
                if frames > 1 {
                    assert!(
                        decrypt(&envelope[..envelope.len() - SLOT], &[&key], &opts.context)
                            .is_err(),
                        "{frames} frames, writes {writes:?}"
                    );
                }
            }
        }
    }
}

/// Reads of every size, alternating between smaller than a frame (opened in place, copied out)
/// and several frames (opened straight into the buffer), yield the plaintext.
#[test]
fn mixed_read_sizes_yield_the_plaintext() {
    let key = TestKey::new(91);
    let opts = options(Suite::Aes256Gcm);
    for len in [0, 1, FS - 1, FS, FS + 1, 40 * FS, 70 * FS + 5] {
        let plaintext = pattern(len);
        let envelope = stream(&plaintext, &key, &opts, &[3 * FS + 1]);
        for reads in [
            &[FS][..],
            &[FS - 1],
            &[5 * FS],
            &[7, 3 * FS, FS + 1],
            &[1 << 20],
        ] {
            let mut dec = Decryptor::new(&envelope[..], &[&key], &opts.context).unwrap();
            let mut got = Vec::new();
            for &n in reads.iter().cycle() {
                let mut buf = vec![0u8; n];
                match dec.read(&mut buf).unwrap() {
                    0 => break,
                    k => got.extend_from_slice(&buf[..k]),
                }
            }
            assert_eq!(got, plaintext, "{len} bytes, reads {reads:?}");
        }
    }
}

/// A read buffer holding many frames gets the frames before a bad one, and nothing of the
/// frames after it (they may have opened, but are not released).
#[test]
fn a_bad_frame_in_a_large_read_releases_only_the_frames_before_it() {
    let key = TestKey::new(92);
    let opts = options(Suite::Aes256Gcm);
    let plaintext = vec![0x55u8; 20 * FS];
    let mut envelope = stream(&plaintext, &key, &opts, &[20 * FS]);
    let (_, header_len) = parse_header(&envelope).unwrap();
    envelope[header_len + 7 * SLOT + 3] ^= 1;
    let mut dec = Decryptor::new(&envelope[..], &[&key], &EncryptionContext::new()).unwrap();
    let mut buf = vec![0xAAu8; 20 * FS];
    assert_eq!(dec.read(&mut buf).unwrap(), 7 * FS);
    assert!(buf[..7 * FS].iter().all(|&b| b == 0x55));
    assert!(
        !buf[7 * FS..].contains(&0x55),
        "no plaintext of the bad frame or after it"
    );
    for _ in 0..2 {
        assert!(matches!(
            inner(&dec.read(&mut buf).unwrap_err()),
            DecryptError::DecryptionFailed
        ));
    }
}
