//! Seal then open is the identity, for every size class, both suites, one-shot and streaming,
//! and across the two APIs.

use std::io::{Read, Write};

use kms_core::{
    Decryptor, EncryptOptions, EncryptionContext, Encryptor, Suite, decrypt, encrypt, parse_header,
};
use proptest::prelude::*;

use crate::support::{TestKey, Trickle, pattern};

const FRAME_SIZES: [u32; 3] = [64, 100, 4096];

fn options(suite: Suite, frame_size: u32, with_context: bool) -> EncryptOptions {
    let context = if with_context {
        EncryptionContext::new()
            .with("purpose", "test")
            .with("tenant", "t-1")
    } else {
        EncryptionContext::new()
    };
    EncryptOptions {
        suite,
        context,
        frame_size,
    }
}

fn suite() -> impl Strategy<Value = Suite> {
    prop_oneof![Just(Suite::Aes256Gcm), Just(Suite::Sm4Gcm)]
}

/// Sizes around frame boundaries, plus many frames (crossing the streaming batch of 32 frames).
fn size_for(frame_size: u32) -> impl Strategy<Value = usize> {
    let fs = frame_size as usize;
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(fs - 1),
        Just(fs),
        Just(fs + 1),
        (2usize..100, 0..fs).prop_map(move |(frames, extra)| frames * fs + extra),
        (0usize..5).prop_map(move |k| 32 * fs + k), // exactly around one batch
    ]
}

fn case() -> impl Strategy<Value = (Suite, u32, usize, bool)> {
    (
        suite(),
        prop::sample::select(FRAME_SIZES.to_vec()),
        any::<bool>(),
    )
        .prop_flat_map(|(suite, fs, ctx)| (Just(suite), Just(fs), size_for(fs), Just(ctx)))
}

fn stream_encrypt(
    plaintext: &[u8],
    wrappers: &[&dyn kms_core::wrap::KeyWrapper],
    opts: &EncryptOptions,
    chunk: usize,
) -> Vec<u8> {
    let mut enc = Encryptor::new(Vec::new(), wrappers, opts).unwrap();
    for piece in plaintext.chunks(chunk.max(1)) {
        enc.write_all(piece).unwrap();
    }
    enc.finish().unwrap()
}

fn stream_decrypt(
    envelope: &[u8],
    unwrappers: &[&dyn kms_core::wrap::KeyWrapper],
    ctx: &EncryptionContext,
    step: usize,
    chunk: usize,
) -> Vec<u8> {
    let mut dec = Decryptor::new(
        Trickle {
            data: envelope,
            step,
        },
        unwrappers,
        ctx,
    )
    .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = dec.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn one_shot_round_trip((suite, fs, len, ctx) in case()) {
        let key = TestKey::new(1);
        let opts = options(suite, fs, ctx);
        let plaintext = pattern(len);
        let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
        let (header, header_len) = parse_header(&envelope).unwrap();
        prop_assert_eq!(header.suite, suite);
        prop_assert_eq!(header.frame_size, fs);
        prop_assert_eq!(&header.context, &opts.context);
        // Exact size: one 16-byte tag per frame, at least one frame.
        let frames = len.div_ceil(fs as usize).max(1);
        prop_assert_eq!(envelope.len(), header_len + len + 16 * frames);
        prop_assert_eq!(decrypt(&envelope, &[&key], &opts.context).unwrap(), plaintext);
    }

    #[test]
    fn streaming_round_trip_and_cross((suite, fs, len, ctx) in case(), write_chunk in 1usize..9000, step in 1usize..5000, read_chunk in 1usize..7000) {
        let key = TestKey::new(2);
        let opts = options(suite, fs, ctx);
        let plaintext = pattern(len);
        let streamed = stream_encrypt(&plaintext, &[&key], &opts, write_chunk);
        let one_shot = encrypt(&plaintext, &[&key], &opts).unwrap();
        // Same layout whichever API sealed it.
        prop_assert_eq!(streamed.len(), one_shot.len());
        prop_assert_eq!(stream_decrypt(&streamed, &[&key], &opts.context, step, read_chunk), plaintext.clone());
        prop_assert_eq!(decrypt(&streamed, &[&key], &opts.context).unwrap(), plaintext.clone());
        prop_assert_eq!(stream_decrypt(&one_shot, &[&key], &opts.context, step, read_chunk), plaintext);
    }
}

#[test]
fn large_writes_use_the_fast_path_and_round_trip() {
    // One write much larger than a batch (64 KiB frames: 32 frames = 2 MiB per batch).
    let key = TestKey::new(3);
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let opts = EncryptOptions {
            suite,
            ..EncryptOptions::default()
        };
        for len in [2 * 1024 * 1024, 2 * 1024 * 1024 + 1, 5 * 1024 * 1024 + 77] {
            let plaintext = pattern(len);
            let mut enc = Encryptor::new(Vec::new(), &[&key], &opts).unwrap();
            let mut written = 0;
            while written < plaintext.len() {
                written += enc.write(&plaintext[written..]).unwrap();
            }
            let envelope = enc.finish().unwrap();
            assert_eq!(
                decrypt(&envelope, &[&key], &opts.context).unwrap(),
                plaintext,
                "{suite} {len}"
            );
            assert_eq!(
                stream_decrypt(&envelope, &[&key], &opts.context, usize::MAX, 1 << 20),
                plaintext
            );
        }
    }
}

#[test]
fn empty_plaintext_is_one_empty_final_frame() {
    let key = TestKey::new(4);
    let opts = EncryptOptions {
        frame_size: 64,
        ..EncryptOptions::default()
    };
    let envelope = encrypt(b"", &[&key], &opts).unwrap();
    let (_, header_len) = parse_header(&envelope).unwrap();
    assert_eq!(envelope.len(), header_len + 16);
    let streamed = Encryptor::new(Vec::new(), &[&key], &opts)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(streamed.len(), header_len + 16);
    assert_eq!(decrypt(&streamed, &[&key], &opts.context).unwrap(), b"");
}

#[test]
fn frame_size_limits() {
    let key = TestKey::new(5);
    for bad in [0, 1, 63, 16 * 1024 * 1024 + 1, u32::MAX] {
        let opts = EncryptOptions {
            frame_size: bad,
            ..EncryptOptions::default()
        };
        assert!(matches!(
            encrypt(b"x", &[&key], &opts),
            Err(kms_core::EncryptError::Format(kms_core::FormatError::UnsupportedFrameSize(n))) if n == bad
        ));
        assert!(matches!(
            Encryptor::new(Vec::new(), &[&key], &opts),
            Err(kms_core::EncryptError::Format(kms_core::FormatError::UnsupportedFrameSize(n))) if n == bad
        ));
    }
    for good in [kms_core::MIN_FRAME_SIZE, kms_core::MAX_FRAME_SIZE] {
        let opts = EncryptOptions {
            frame_size: good,
            ..EncryptOptions::default()
        };
        let envelope = encrypt(&pattern(1000), &[&key], &opts).unwrap();
        assert_eq!(
            decrypt(&envelope, &[&key], &opts.context).unwrap(),
            pattern(1000)
        );
    }
}
