//! Whole files by positioned I/O (`encrypt_file`, `decrypt_file`): the same envelopes as the
//! streaming and one-shot paths, both ways; bad envelopes fail and leave no plaintext.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use kms_core::cache::{CacheLimits, DataKeyCache};
use kms_core::{
    DecryptError, Decryptor, EncryptOptions, EncryptionContext, Suite, decrypt, decrypt_file,
    encrypt, encrypt_file, parse_header,
};
use proptest::prelude::*;

use crate::support::{TestKey, pattern};

fn file_with(bytes: &[u8]) -> File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    file
}

fn contents(file: &File) -> Vec<u8> {
    let mut bytes = vec![0; file.metadata().unwrap().len() as usize];
    file.read_exact_at(&mut bytes, 0).unwrap();
    bytes
}

fn options(suite: Suite, frame_size: u32) -> EncryptOptions {
    EncryptOptions {
        suite,
        frame_size,
        context: EncryptionContext::new().with("purpose", "file-test"),
    }
}

/// Positional both ways, and each way against the one-shot and streaming paths.
fn round_trips(suite: Suite, frame_size: u32, len: usize) {
    let key = TestKey::kms(40);
    let opts = options(suite, frame_size);
    let plaintext = pattern(len);

    // Positional seal: the one-shot and the streaming reader open it.
    let sealed = tempfile::tempfile().unwrap();
    let done = encrypt_file(&file_with(&plaintext), &sealed, &[&key], &opts, None).unwrap();
    assert_eq!(done, len as u64);
    let envelope = contents(&sealed);
    let (_, header_len) = parse_header(&envelope).unwrap();
    let frames = len.div_ceil(frame_size as usize).max(1);
    assert_eq!(envelope.len(), header_len + len + 16 * frames, "{len}");
    assert_eq!(
        decrypt(&envelope, &[&key], &opts.context).unwrap(),
        plaintext
    );
    let mut streamed = Vec::new();
    Decryptor::new(&envelope[..], &[&key], &opts.context)
        .unwrap()
        .read_to_end(&mut streamed)
        .unwrap();
    assert_eq!(streamed, plaintext);

    // Positional open of its own output and of a one-shot envelope.
    for envelope in [envelope, encrypt(&plaintext, &[&key], &opts).unwrap()] {
        let output = tempfile::tempfile().unwrap();
        let opened =
            decrypt_file(&file_with(&envelope), &output, &[&key], &opts.context, None).unwrap();
        assert_eq!(opened, len as u64);
        assert_eq!(contents(&output), plaintext, "{suite:?} {frame_size} {len}");
    }
}

/// Lengths at and around frame boundaries and at and around the boundaries of runs of
/// 256 KiB, 512 KiB and 1 MiB of whole frames (whichever run size file.rs uses).
fn boundary_lengths(frame_size: usize) -> Vec<usize> {
    let mut lengths = vec![
        0,
        1,
        frame_size - 1,
        frame_size,
        frame_size + 1,
        3 * frame_size,
    ];
    for run in [256 << 10, 512 << 10, 1 << 20] {
        let run = (run / frame_size).max(1) * frame_size;
        for at in [run, 2 * run, 3 * run] {
            lengths.extend([at - 1, at, at + 1, at + frame_size]);
        }
    }
    lengths
}

#[test]
fn every_boundary_length_round_trips_both_suites() {
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        for frame_size in [64u32, 4096, 65_536] {
            for len in boundary_lengths(frame_size as usize) {
                round_trips(suite, frame_size, len);
            }
        }
    }
}

#[test]
fn frames_larger_than_a_run_round_trip() {
    round_trips(Suite::Aes256Gcm, 2 << 20, 5 << 20);
    round_trips(Suite::Aes256Gcm, 2 << 20, (4 << 20) + 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_length_round_trips(
        suite in prop_oneof![Just(Suite::Aes256Gcm), Just(Suite::Sm4Gcm)],
        frame_size in prop_oneof![Just(64u32), Just(100), Just(4096), Just(65_536)],
        len in 0usize..(3 << 20),
    ) {
        round_trips(suite, frame_size, len);
    }
}

/// Seals 1.5 MiB in 4 KiB frames: several runs, so damage lands in different runs.
fn sealed_sample() -> (TestKey, EncryptOptions, Vec<u8>, usize) {
    let key = TestKey::kms(41);
    let opts = options(Suite::Aes256Gcm, 4096);
    let plaintext = pattern(3 << 19);
    let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
    let (_, header_len) = parse_header(&envelope).unwrap();
    (key, opts, envelope, header_len)
}

/// Opens `envelope` into a file that already holds other bytes; returns the error and what is
/// left in the output.
fn open_damaged(envelope: &[u8], key: &TestKey, opts: &EncryptOptions) -> (DecryptError, Vec<u8>) {
    let mut output = tempfile::tempfile().unwrap();
    output.write_all(b"earlier bytes").unwrap();
    output.seek(SeekFrom::Start(0)).unwrap();
    let err = decrypt_file(&file_with(envelope), &output, &[key], &opts.context, None)
        .expect_err("a damaged envelope must not open");
    (err, contents(&output))
}

#[test]
fn tampered_truncated_or_extended_envelopes_fail_and_leave_nothing() {
    let (key, opts, envelope, header_len) = sealed_sample();
    let slot = 4096 + 16;
    let body = envelope.len() - header_len;
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for frame in [0, 1, 200, (body - 1) / slot] {
        let mut bad = envelope.clone();
        bad[header_len + frame * slot + 7] ^= 0x20;
        cases.push((format!("frame {frame} flipped"), bad));
    }
    let mut tag = envelope.clone();
    *tag.last_mut().unwrap() ^= 1;
    cases.push(("last tag flipped".into(), tag));
    for cut in [1, 16, slot, slot + 1] {
        cases.push((
            format!("{cut} bytes cut"),
            envelope[..envelope.len() - cut].to_vec(),
        ));
    }
    let mut at_boundary = envelope[..header_len + 128 * slot].to_vec();
    cases.push(("cut at a run boundary".into(), at_boundary.clone()));
    at_boundary.truncate(header_len + slot);
    cases.push(("only the first frame".into(), at_boundary));
    for extra in [1, 16, slot] {
        let mut longer = envelope.clone();
        longer.extend(std::iter::repeat_n(0xAB, extra));
        cases.push((format!("{extra} bytes appended"), longer));
    }
    cases.push(("no body".into(), envelope[..header_len].to_vec()));
    for (what, bad) in cases {
        let (err, left) = open_damaged(&bad, &key, &opts);
        assert!(
            matches!(err, DecryptError::DecryptionFailed),
            "{what}: {err:?}"
        );
        // Refused before writing (the layout is wrong), or emptied after a frame failed.
        assert!(
            left.is_empty() || left == b"earlier bytes",
            "{what}: {} bytes of plaintext left in the output",
            left.len()
        );
    }
}

#[test]
fn a_damaged_header_or_the_wrong_context_opens_nothing() {
    let (key, opts, mut envelope, _) = sealed_sample();
    let (err, left) = open_damaged(
        &envelope,
        &key,
        &options(Suite::Aes256Gcm, 4096).with_context(),
    );
    assert!(matches!(err, DecryptError::ContextMismatch), "{err:?}");
    assert_eq!(
        left, b"earlier bytes",
        "refused before the output is touched"
    );
    envelope[20] ^= 1;
    let (err, _) = open_damaged(&envelope, &key, &opts);
    assert!(
        matches!(
            err,
            DecryptError::DecryptionFailed | DecryptError::Format(_)
        ),
        "{err:?}"
    );
}

trait WithContext {
    fn with_context(self) -> Self;
}

impl WithContext for EncryptOptions {
    fn with_context(mut self) -> Self {
        self.context = EncryptionContext::new().with("purpose", "another");
        self
    }
}

#[test]
fn an_output_longer_than_the_result_is_cut_to_it() {
    let key = TestKey::kms(42);
    let opts = options(Suite::Aes256Gcm, 4096);
    let plaintext = pattern(10_000);
    let sealed = file_with(&vec![0xEE; 1 << 20]);
    encrypt_file(&file_with(&plaintext), &sealed, &[&key], &opts, None).unwrap();
    let envelope = contents(&sealed);
    assert_eq!(
        decrypt(&envelope, &[&key], &opts.context).unwrap(),
        plaintext
    );
    let opened = file_with(&vec![0xEE; 1 << 20]);
    decrypt_file(&sealed, &opened, &[&key], &opts.context, None).unwrap();
    assert_eq!(contents(&opened), plaintext);
}

#[test]
fn progress_counts_every_plaintext_byte() {
    let key = TestKey::kms(43);
    let opts = options(Suite::Aes256Gcm, 65_536);
    let plaintext = pattern((5 << 20) + 17);
    let counted = std::sync::atomic::AtomicU64::new(0);
    let progress = |bytes| {
        counted.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    };
    let sealed = tempfile::tempfile().unwrap();
    encrypt_file(
        &file_with(&plaintext),
        &sealed,
        &[&key],
        &opts,
        Some(&progress),
    )
    .unwrap();
    assert_eq!(
        counted.swap(0, std::sync::atomic::Ordering::Relaxed),
        plaintext.len() as u64
    );
    let opened = tempfile::tempfile().unwrap();
    decrypt_file(&sealed, &opened, &[&key], &opts.context, Some(&progress)).unwrap();
    assert_eq!(counted.into_inner(), plaintext.len() as u64);
}

#[test]
fn many_files_through_a_cache_cost_one_data_key() {
    let key = TestKey::kms(44);
    let opts = options(Suite::Aes256Gcm, 4096);
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let mut sealed = Vec::new();
    for len in [0, 5000, 700_000] {
        let out = tempfile::tempfile().unwrap();
        cache
            .encrypt_file(&file_with(&pattern(len)), &out, &[&key], &opts, None)
            .unwrap();
        sealed.push((len, out));
    }
    for (len, envelope) in &sealed {
        let out = tempfile::tempfile().unwrap();
        cache
            .decrypt_file(envelope, &out, &[&key], &opts.context, None)
            .unwrap();
        assert_eq!(contents(&out), pattern(*len));
    }
    let stats = cache.stats();
    assert_eq!(stats.data_keys_generated, 1);
    assert_eq!(stats.data_keys_unwrapped, 1);
    assert_eq!((stats.seal_hits, stats.open_hits), (2, 2));
}

#[test]
fn a_file_larger_than_the_cache_allows_gets_its_own_data_key() {
    let key = TestKey::kms(45);
    let opts = options(Suite::Aes256Gcm, 4096);
    let limits = CacheLimits {
        max_bytes: 1000,
        ..CacheLimits::default()
    };
    let cache = DataKeyCache::new(limits).unwrap();
    for _ in 0..2 {
        let out = tempfile::tempfile().unwrap();
        cache
            .encrypt_file(&file_with(&pattern(600)), &out, &[&key], &opts, None)
            .unwrap();
    }
    // 600 + 600 > 1000: the second file needs a new data key.
    assert_eq!(cache.stats().data_keys_generated, 2);
}
