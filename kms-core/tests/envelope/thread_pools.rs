//! Streams batch by rayon's thread count (one frame at a time on one thread, up to 32 frames
//! with several): envelopes are the same either way, and the guarantees hold for both.

use std::io::{Read, Write};

use kms_core::{
    DecryptError, Decryptor, EncryptOptions, EncryptionContext, Encryptor, Suite, decrypt, encrypt,
    parse_header,
};

use crate::support::{TestKey, Trickle, inner, pattern, read_until_error};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn seal(plaintext: &[u8], key: &TestKey, opts: &EncryptOptions, chunk: usize) -> Vec<u8> {
    let mut enc = Encryptor::new(Vec::new(), &[key], opts).unwrap();
    for part in plaintext.chunks(chunk) {
        enc.write_all(part).unwrap();
    }
    enc.finish().unwrap()
}

fn open(envelope: &[u8], key: &TestKey, chunk: usize) -> Vec<u8> {
    let (got, err) = read_until_error(
        Decryptor::new(envelope, &[key], &EncryptionContext::new()).unwrap(),
        chunk,
    );
    assert!(err.is_none(), "{err:?}");
    got
}

#[test]
fn one_thread_and_several_seal_and_open_each_others_streams() {
    let key = TestKey::new(90);
    let (one, three) = (pool(1), pool(3));
    for (suite, fs) in [(Suite::Aes256Gcm, 65_536), (Suite::Sm4Gcm, 4096)] {
        let opts = EncryptOptions {
            suite,
            frame_size: fs as u32,
            ..EncryptOptions::default()
        };
        for len in [0, 1, fs - 1, fs, fs + 1, 16 * fs, 16 * fs + 5, 40 * fs] {
            let plaintext = pattern(len);
            // Writes of exactly one frame (the last frame is sealed before the stream is known to
            // end there), of less than a frame, and of everything at once.
            for write in [fs, 1000, len.max(1)] {
                for (sealer, opener) in [(&one, &three), (&three, &one), (&one, &one)] {
                    let envelope = sealer.install(|| seal(&plaintext, &key, &opts, write));
                    let label = format!("{suite} len {len} writes of {write}");
                    assert_eq!(
                        decrypt(&envelope, &[&key], &opts.context).unwrap(),
                        plaintext,
                        "{label}"
                    );
                    for read in [fs, 100, 1 << 20] {
                        assert_eq!(
                            opener.install(|| open(&envelope, &key, read)),
                            plaintext,
                            "{label}, reads of {read}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn one_thread_releases_only_the_frames_before_a_bad_one() {
    let key = TestKey::new(91);
    let opts = EncryptOptions::default();
    let fs = opts.frame_size as usize;
    let plaintext = pattern(5 * fs - 9);
    let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
    let (_, header_len) = parse_header(&envelope).unwrap();
    pool(1).install(|| {
        for bad in 0..5 {
            for at in [3, fs + 2] {
                let mut tampered = envelope.clone();
                // A byte of the body, then of the tag (the short last frame too).
                tampered[header_len + bad * (fs + 16) + at] ^= 0x10;
                for chunk in [100, fs, 1 << 20] {
                    let dec = Decryptor::new(&tampered[..], &[&key], &opts.context).unwrap();
                    let (got, err) = read_until_error(dec, chunk);
                    assert_eq!(got, plaintext[..bad * fs], "frame {bad}, reads of {chunk}");
                    let err = err.expect("the bad frame is an error, not end of file");
                    assert!(matches!(inner(&err), DecryptError::DecryptionFailed));
                }
            }
        }
    });
}

#[test]
fn one_thread_detects_truncation_at_every_frame() {
    let key = TestKey::new(92);
    let opts = EncryptOptions::default();
    let fs = opts.frame_size as usize;
    let plaintext = pattern(4 * fs + 1);
    let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
    let (_, header_len) = parse_header(&envelope).unwrap();
    pool(1).install(|| {
        for frames in 0..5 {
            for extra in [0, 1, 17, fs] {
                let cut = header_len + frames * (fs + 16) + extra;
                if cut >= envelope.len() {
                    continue;
                }
                let dec = Decryptor::new(
                    Trickle {
                        data: &envelope[..cut],
                        step: 40_000,
                    },
                    &[&key],
                    &opts.context,
                )
                .unwrap();
                let (got, err) = read_until_error(dec, fs);
                let err = err.unwrap_or_else(|| panic!("cut at {cut} read as complete"));
                assert!(matches!(inner(&err), DecryptError::DecryptionFailed));
                assert_eq!(got, plaintext[..got.len()]);
                assert!(got.len() <= frames * fs, "nothing of a cut frame");
            }
        }
        // One byte too many: the real last frame is no longer last.
        let mut longer = envelope.clone();
        longer.push(0);
        let (got, err) = read_until_error(
            Decryptor::new(&longer[..], &[&key], &opts.context).unwrap(),
            fs,
        );
        assert!(matches!(
            inner(&err.expect("detected")),
            DecryptError::DecryptionFailed
        ));
        assert_eq!(got, plaintext[..4 * fs]);
    });
}

#[test]
fn one_thread_small_reads_get_every_byte() {
    let key = TestKey::new(93);
    let opts = EncryptOptions::default();
    let plaintext = pattern(3 * opts.frame_size as usize + 500);
    let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
    pool(1).install(|| {
        let mut dec = Decryptor::new(&envelope[..], &[&key], &opts.context).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = dec.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, plaintext);
    });
}
