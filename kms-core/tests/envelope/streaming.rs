//! The Decryptor releases only authenticated plaintext, and stops at the first bad frame.

use std::io::{Read, Write};

use kms_core::{
    DecryptError, Decryptor, EncryptOptions, EncryptionContext, Encryptor, Suite, encrypt,
    parse_header, read_header,
};

use crate::support::{TestKey, Trickle, inner, pattern, read_until_error};

fn tamper_frame(suite: Suite, frame_size: u32, frames: usize, bad_frame: usize, chunk: usize) {
    let key = TestKey::new(70);
    let fs = frame_size as usize;
    let opts = EncryptOptions {
        suite,
        frame_size,
        ..EncryptOptions::default()
    };
    let plaintext = pattern(frames * fs - 3);
    let mut envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
    let (_, header_len) = parse_header(&envelope).unwrap();
    envelope[header_len + bad_frame * (fs + 16) + 5] ^= 0x40;
    let dec = Decryptor::new(&envelope[..], &[&key], &EncryptionContext::new()).unwrap();
    let (got, err) = read_until_error(dec, chunk);
    assert_eq!(
        got.len(),
        bad_frame * fs,
        "exactly the frames before the bad one"
    );
    assert_eq!(got, plaintext[..bad_frame * fs]);
    let err = err.expect("the bad frame is an error, not end of file");
    assert!(matches!(inner(&err), DecryptError::DecryptionFailed));
}

#[test]
fn tampered_third_frame_yields_frames_one_and_two_then_an_error() {
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        for chunk in [1, 7, 64, 4096] {
            tamper_frame(suite, 64, 10, 2, chunk);
        }
    }
}

#[test]
fn tampered_frame_in_a_later_batch() {
    // 64 KiB frames: batches of 32 frames. Frame 35 sits in the second batch.
    tamper_frame(Suite::Aes256Gcm, 65_536, 40, 35, 100_000);
    tamper_frame(Suite::Aes256Gcm, 65_536, 40, 32, 100_000);
    tamper_frame(Suite::Aes256Gcm, 65_536, 40, 39, 100_000);
}

#[test]
fn the_error_repeats_and_no_more_plaintext_follows() {
    let key = TestKey::new(71);
    let opts = EncryptOptions {
        frame_size: 64,
        ..EncryptOptions::default()
    };
    let mut envelope = encrypt(&pattern(640), &[&key], &opts).unwrap();
    let len = envelope.len();
    envelope[len - 1] ^= 1; // last frame's tag
    let mut dec = Decryptor::new(&envelope[..], &[&key], &EncryptionContext::new()).unwrap();
    let mut buf = vec![0u8; 10_000];
    assert_eq!(dec.read(&mut buf).unwrap(), 576);
    for _ in 0..3 {
        assert!(matches!(
            inner(&dec.read(&mut buf).unwrap_err()),
            DecryptError::DecryptionFailed
        ));
    }
}

#[test]
fn truncated_streams_end_in_an_error_not_eof() {
    let key = TestKey::new(72);
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let opts = EncryptOptions {
            suite,
            frame_size: 64,
            ..EncryptOptions::default()
        };
        let plaintext = pattern(64 * 70 + 1); // 71 frames: three batches
        let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
        let (_, header_len) = parse_header(&envelope).unwrap();
        for frames in [0, 1, 31, 32, 33, 64, 70] {
            let cut = &envelope[..header_len + frames * 80];
            let dec = Decryptor::new(
                Trickle {
                    data: cut,
                    step: 33,
                },
                &[&key],
                &EncryptionContext::new(),
            )
            .unwrap();
            let (got, err) = read_until_error(dec, 1000);
            let err = err.unwrap_or_else(|| {
                panic!("{suite}: truncation after {frames} frames read as a complete message")
            });
            assert!(matches!(inner(&err), DecryptError::DecryptionFailed));
            assert_eq!(
                got,
                plaintext[..got.len()],
                "whatever was released is authentic"
            );
            assert!(got.len() < frames.max(1) * 64);
        }
        // Appended bytes: the real last frame now looks non-final.
        let mut longer = envelope.clone();
        longer.push(0);
        let dec = Decryptor::new(&longer[..], &[&key], &EncryptionContext::new()).unwrap();
        let (_, err) = read_until_error(dec, 1000);
        assert!(matches!(
            inner(&err.expect("appended byte detected")),
            DecryptError::DecryptionFailed
        ));
    }
}

#[test]
fn decryptor_checks_context_and_keys_up_front() {
    let key = TestKey::new(73);
    let opts = EncryptOptions {
        context: EncryptionContext::new().with("a", "1"),
        ..EncryptOptions::default()
    };
    let envelope = encrypt(b"data", &[&key], &opts).unwrap();
    assert!(matches!(
        Decryptor::new(&envelope[..], &[&key], &EncryptionContext::new()),
        Err(DecryptError::ContextMismatch)
    ));
    assert!(matches!(
        Decryptor::new(&envelope[..], &[&TestKey::new(74)], &opts.context),
        Err(DecryptError::NoMatchingKey(_))
    ));
    let mut v9 = envelope.clone();
    v9[7] = 9;
    assert!(matches!(
        Decryptor::new(&v9[..], &[&key], &opts.context),
        Err(DecryptError::Format(kms_core::FormatError::UnknownVersion(
            9
        )))
    ));
    let dec = Decryptor::new(&envelope[..], &[&key], &opts.context).unwrap();
    assert_eq!(dec.header().context, opts.context);
}

#[test]
fn read_header_consumes_exactly_the_header() {
    let key = TestKey::new(75);
    let envelope = encrypt(&pattern(500), &[&key], &EncryptOptions::default()).unwrap();
    let (parsed, header_len) = parse_header(&envelope).unwrap();
    let mut input = &envelope[..];
    let read = read_header(&mut input).unwrap();
    assert_eq!(read, parsed);
    assert_eq!(input, &envelope[header_len..]);
}

#[test]
fn encryptor_after_write_error_refuses_to_finish() {
    struct Failing(usize);
    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let key = TestKey::new(76);
    let opts = EncryptOptions {
        frame_size: 64,
        ..EncryptOptions::default()
    };
    let mut enc = Encryptor::new(Failing(300), &[&key], &opts).unwrap();
    assert!(enc.write_all(&pattern(10_000)).is_err());
    assert!(enc.write(b"more").is_err());
    assert!(enc.finish().is_err());
}
