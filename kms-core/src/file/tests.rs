//! The layout of runs, and inputs that change size while they are read (a length that does not
//! match the file plays a file changed by another process between `metadata` and the reads).

use std::io::{Seek, SeekFrom, Write};

use super::*;
use crate::aead::TAG_LEN;
use crate::message::{open_header_with, write_header};
use crate::secret::DataKey;
use crate::wrap::{KeyRef, WrapMethod, WrappedKey};

fn options(frame_size: u32) -> EncryptOptions {
    EncryptOptions {
        frame_size,
        ..EncryptOptions::default()
    }
}

fn file_with(bytes: &[u8]) -> File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Seals `input` as if it had `len` bytes, under `key`.
fn seal(input: &File, len: u64, key: &DataKey, frame_size: u32) -> Result<File, EncryptError> {
    let output = tempfile::tempfile().unwrap();
    let options = options(frame_size);
    seal_file(input, len, &output, &options, None, || {
        write_header(&options, key, &[opaque_wrapped_key()])
    })?;
    Ok(output)
}

/// Opens `input` as if it had `len` bytes, under `key`, into a new file.
fn open(input: &File, len: u64, key: &DataKey) -> (Result<u64, DecryptError>, File) {
    let output = tempfile::tempfile().unwrap();
    let result = open_file(input, len, &output, None, |parsed| {
        open_header_with(parsed, &EncryptionContext::new(), |_| Ok(key))
            .map(|(header, cipher, _)| (header, cipher))
    });
    (result, output)
}

/// A wrapped key nothing unwraps: these tests hand the data key to the header check directly.
fn opaque_wrapped_key() -> WrappedKey {
    WrappedKey {
        method: WrapMethod::KmsSymmetric,
        key_ref: KeyRef::Kms {
            key_id: "test".into(),
        },
        ciphertext: b"opaque".to_vec(),
    }
}

fn is_changed_size(err: &io::Error) -> bool {
    err.to_string().contains("changed size")
}

#[test]
fn runs_cover_every_frame_once_and_only_the_last_ends_the_message() {
    for (plaintext_len, frame_size) in [
        (0usize, 64usize),
        (1, 64),
        (64, 64),
        (65, 64),
        (RUN_BYTES, 64),
        (RUN_BYTES + 1, 64),
        (3 * RUN_BYTES - 5, 4096),
        (RUN_BYTES, RUN_BYTES * 2),
        (5 * RUN_BYTES + 7, RUN_BYTES * 2),
    ] {
        let layout = Layout {
            frame_size,
            frames: frame_count(plaintext_len, frame_size) as u64,
            run_frames: run_frames(frame_size),
            plaintext_len: plaintext_len as u64,
            header_len: 100,
            body_len: sealed_len(plaintext_len, frame_size) as u64,
        };
        let (mut plain_at, mut sealed_at, mut frame) = (0, 100, 0);
        for index in 0..layout.runs() {
            let run = layout.run(index);
            assert_eq!(run.first, frame);
            assert_eq!(run.plaintext.start, plain_at);
            assert_eq!(run.sealed.start, sealed_at);
            let frames = run.sealed_len().div_ceil(frame_size + TAG_LEN);
            assert_eq!(run.sealed_len(), run.plaintext_len() + frames * TAG_LEN);
            assert_eq!(run.ends_message, index + 1 == layout.runs());
            (plain_at, sealed_at) = (run.plaintext.end, run.sealed.end);
            frame += frames as u64;
        }
        assert_eq!(frame, layout.frames, "{plaintext_len} / {frame_size}");
        assert_eq!(plain_at, plaintext_len as u64);
        assert_eq!(sealed_at, 100 + layout.body_len);
    }
}

#[test]
fn an_input_that_grew_or_shrank_is_an_error() {
    let key = DataKey::generate();
    let plaintext = pattern(3 * RUN_BYTES + 100);
    let input = file_with(&plaintext);
    let len = plaintext.len() as u64;
    for claimed in [len - 1, len - 100, 0, len + 1, len + RUN_BYTES as u64] {
        match seal(&input, claimed, &key, 4096) {
            Err(EncryptError::Read(err)) => assert!(is_changed_size(&err), "{claimed}: {err}"),
            other => panic!("{claimed}: {:?}", other.map(drop)),
        }
    }
    // The right length seals, and opens to the plaintext.
    let sealed = seal(&input, len, &key, 4096).unwrap();
    let (opened, output) = open(&sealed, sealed.metadata().unwrap().len(), &key);
    assert_eq!(opened.unwrap(), len);
    assert_eq!(contents(&output), plaintext);
}

#[test]
fn an_envelope_that_grew_or_shrank_is_an_error_and_leaves_no_plaintext() {
    let key = DataKey::generate();
    let plaintext = pattern(2 * RUN_BYTES + 100);
    let sealed = seal(&file_with(&plaintext), plaintext.len() as u64, &key, 4096).unwrap();
    let len = sealed.metadata().unwrap().len();
    // Longer than claimed (appended to after its length was taken): every frame opens, then the
    // byte beyond the claimed end fails the run.
    sealed.set_len(len + 10).unwrap();
    let (opened, output) = open(&sealed, len, &key);
    match opened {
        Err(DecryptError::Io(err)) => assert!(is_changed_size(&err), "{err}"),
        other => panic!("{:?}", other.map(drop)),
    }
    assert_eq!(output.metadata().unwrap().len(), 0, "no plaintext left");
    // Shorter than claimed, by whole frames (a layout that would be valid): a short read.
    sealed.set_len(len).unwrap();
    let (opened, output) = open(&sealed, len + 4096 + 16, &key);
    match opened {
        Err(DecryptError::Io(err)) => assert!(is_changed_size(&err), "{err}"),
        other => panic!("{:?}", other.map(drop)),
    }
    assert_eq!(output.metadata().unwrap().len(), 0, "no plaintext left");
}

fn contents(file: &File) -> Vec<u8> {
    let mut bytes = vec![0; file.metadata().unwrap().len() as usize];
    file.read_exact_at(&mut bytes, 0).unwrap();
    bytes
}
