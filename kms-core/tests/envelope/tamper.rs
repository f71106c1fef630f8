//! Every modification of an envelope fails, with the precise error kind.

use kms_core::{
    DecryptError, EncryptOptions, EncryptionContext, FormatError, Suite, decrypt, encrypt,
    parse_header,
};
use proptest::prelude::*;

use crate::support::{TestKey, pattern};

const FS: usize = 64;
const SLOT: usize = FS + 16;

fn sealed(suite: Suite, len: usize) -> (Vec<u8>, usize, EncryptionContext) {
    let context = EncryptionContext::new().with("app", "tkms");
    let opts = EncryptOptions {
        suite,
        context: context.clone(),
        frame_size: FS as u32,
    };
    let envelope = encrypt(&pattern(len), &[&TestKey::new(7)], &opts).unwrap();
    let (_, header_len) = parse_header(&envelope).unwrap();
    (envelope, header_len, context)
}

fn open(envelope: &[u8], context: &EncryptionContext) -> Result<Vec<u8>, DecryptError> {
    decrypt(envelope, &[&TestKey::new(7)], context)
}

/// Which header field a byte offset falls in, for the layout written by `sealed` (context
/// {"app": "tkms"}: 2 + 2 + 3 + 2 + 4 = 13 bytes; one wrapped key with a 32-byte key ref and a
/// 60-byte ciphertext).
fn field(offset: usize) -> &'static str {
    match offset {
        0..7 => "magic",
        7 => "version",
        8..10 => "suite",
        10..14 => "frame_size",
        14..46 => "message_id",
        46..59 => "context",
        59 => "count",
        60 => "method",
        61 => "key_ref_kind",
        62..64 => "key_ref_len",
        64..96 => "key_ref",
        96..98 => "ciphertext_len",
        98..158 => "ciphertext",
        158..190 => "commitment",
        190..222 => "header_tag",
        _ => unreachable!("header is 222 bytes"),
    }
}

#[test]
fn every_header_byte_is_protected_with_the_right_error() {
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let (envelope, header_len, context) = sealed(suite, 3 * FS + 5);
        assert_eq!(header_len, 222, "the layout `field` describes");
        for offset in 0..header_len {
            for flip in [0x01u8, 0x80] {
                let mut bad = envelope.clone();
                bad[offset] ^= flip;
                let err = open(&bad, &context).expect_err("a modified header must not decrypt");
                let name = field(offset);
                let ok = match (name, &err) {
                    ("magic", DecryptError::Format(FormatError::NotEnvelope)) => true,
                    ("version", DecryptError::Format(FormatError::UnknownVersion(v))) => {
                        *v == 1 ^ flip
                    }
                    ("suite", DecryptError::Format(FormatError::UnknownSuite(_))) => true,
                    // The new size may be out of range, or in range and then the tag fails.
                    ("frame_size", DecryptError::Format(FormatError::UnsupportedFrameSize(_))) => {
                        true
                    }
                    (
                        "context",
                        DecryptError::ContextMismatch
                        | DecryptError::Format(FormatError::MalformedHeader(_)),
                    ) => true,
                    ("count", DecryptError::Format(FormatError::MalformedHeader(_))) => true,
                    (
                        "method",
                        DecryptError::Format(FormatError::UnknownWrapMethod(_))
                        | DecryptError::NoMatchingKey(_),
                    ) => true,
                    (
                        "key_ref_kind" | "key_ref_len",
                        DecryptError::Format(FormatError::MalformedHeader(_)),
                    ) => true,
                    ("key_ref", DecryptError::NoMatchingKey(_)) => true,
                    // A different length shifts every later field: a malformed or truncated header,
                    // or a wrapped key that fails to unwrap.
                    (
                        "ciphertext_len",
                        DecryptError::Format(FormatError::MalformedHeader(_))
                        | DecryptError::DecryptionFailed,
                    ) => true,
                    (
                        "frame_size" | "message_id" | "ciphertext" | "commitment" | "header_tag",
                        DecryptError::DecryptionFailed,
                    ) => true,
                    _ => false,
                };
                assert!(
                    ok,
                    "{suite}: byte {offset} ({name}) ^ {flip:#x} gave {err:?}"
                );
            }
        }
    }
}

#[test]
fn truncation_at_every_frame_boundary_and_byte_fails() {
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        for len in [0, FS, 5 * FS, 5 * FS + 9] {
            let (envelope, header_len, context) = sealed(suite, len);
            let body = envelope.len() - header_len;
            for cut in (0..body).step_by(SLOT).chain([body - 1]) {
                let err = open(&envelope[..header_len + cut], &context).unwrap_err();
                assert!(
                    matches!(err, DecryptError::DecryptionFailed),
                    "{suite} len {len} cut {cut}: {err:?}"
                );
            }
            for cut in 0..body {
                assert!(matches!(
                    open(&envelope[..header_len + cut], &context),
                    Err(DecryptError::DecryptionFailed)
                ));
            }
            for cut in 0..header_len {
                let err = open(&envelope[..cut], &context).unwrap_err();
                assert!(
                    matches!(
                        err,
                        DecryptError::Format(
                            FormatError::NotEnvelope | FormatError::MalformedHeader(_)
                        )
                    ),
                    "cut in header at {cut}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn reordered_duplicated_and_dropped_frames_fail() {
    let (envelope, header_len, context) = sealed(Suite::Aes256Gcm, 4 * FS + 10);
    let (header, body) = envelope.split_at(header_len);
    let frames: Vec<&[u8]> = body.chunks(SLOT).collect();
    assert_eq!(frames.len(), 5);
    let rebuild = |order: &[usize]| {
        let mut out = header.to_vec();
        for &i in order {
            out.extend_from_slice(frames[i]);
        }
        out
    };
    for order in [
        &[1, 0, 2, 3, 4][..],
        &[0, 1, 1, 2, 3, 4],
        &[0, 2, 3, 4],
        &[0, 1, 2, 3, 3, 4],
        &[0, 1, 2, 4],
    ] {
        assert!(
            matches!(
                open(&rebuild(order), &context),
                Err(DecryptError::DecryptionFailed)
            ),
            "{order:?}"
        );
    }
    assert_eq!(
        open(&rebuild(&[0, 1, 2, 3, 4]), &context).unwrap(),
        pattern(4 * FS + 10)
    );
}

#[test]
fn bodies_and_headers_of_two_messages_do_not_mix() {
    let (a, a_len, context) = sealed(Suite::Aes256Gcm, 100);
    let (b, b_len, _) = sealed(Suite::Aes256Gcm, 100);
    let mut mixed = a[..a_len].to_vec();
    mixed.extend_from_slice(&b[b_len..]);
    assert!(matches!(
        open(&mixed, &context),
        Err(DecryptError::DecryptionFailed)
    ));
}

#[test]
fn wrong_context_is_a_context_mismatch() {
    let (envelope, _, _) = sealed(Suite::Sm4Gcm, 10);
    for wrong in [
        EncryptionContext::new(),
        EncryptionContext::new().with("app", "tkmz"),
        EncryptionContext::new()
            .with("app", "tkms")
            .with("extra", ""),
    ] {
        assert!(matches!(
            open(&envelope, &wrong),
            Err(DecryptError::ContextMismatch)
        ));
    }
}

#[test]
fn format_errors_are_specific() {
    let (envelope, _, context) = sealed(Suite::Aes256Gcm, 10);
    let mut v2 = envelope.clone();
    v2[7] = 2;
    assert!(matches!(
        open(&v2, &context),
        Err(DecryptError::Format(FormatError::UnknownVersion(2)))
    ));
    assert_eq!(
        parse_header(&v2).unwrap_err(),
        FormatError::UnknownVersion(2)
    );
    let mut suite = envelope.clone();
    suite[8..10].copy_from_slice(&[0x12, 0x34]);
    assert_eq!(
        parse_header(&suite).unwrap_err(),
        FormatError::UnknownSuite(0x1234)
    );
    let mut fs = envelope.clone();
    fs[10..14].copy_from_slice(&32u32.to_be_bytes());
    assert_eq!(
        parse_header(&fs).unwrap_err(),
        FormatError::UnsupportedFrameSize(32)
    );
    assert_eq!(parse_header(b"").unwrap_err(), FormatError::NotEnvelope);
    assert_eq!(
        parse_header(b"PK\x03\x04 a zip file").unwrap_err(),
        FormatError::NotEnvelope
    );
    assert!(matches!(
        parse_header(&envelope[..100]).unwrap_err(),
        FormatError::MalformedHeader(_)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_body_byte_change_fails(suite in prop_oneof![Just(Suite::Aes256Gcm), Just(Suite::Sm4Gcm)],
                                  len in 0usize..700, pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (mut envelope, header_len, context) = sealed(suite, len);
        let body = envelope.len() - header_len;
        envelope[header_len + pos.index(body)] ^= flip;
        prop_assert!(matches!(open(&envelope, &context), Err(DecryptError::DecryptionFailed)));
    }

    #[test]
    fn appended_bytes_fail(len in 0usize..400, extra in prop::collection::vec(any::<u8>(), 1..200)) {
        let (mut envelope, _, context) = sealed(Suite::Aes256Gcm, len);
        envelope.extend_from_slice(&extra);
        prop_assert!(matches!(open(&envelope, &context), Err(DecryptError::DecryptionFailed)));
    }
}

#[test]
fn a_modified_context_fails_even_when_the_caller_asks_for_it() {
    // Only the header tag binds the context (neither the key schedule nor a public-key
    // wrapped key does): change "tkms" to "tkmt" in the header and ask for exactly that context.
    let (mut envelope, _, _) = sealed(Suite::Aes256Gcm, 10);
    assert_eq!(&envelope[55..59], b"tkms");
    envelope[58] = b't';
    let forged = EncryptionContext::new().with("app", "tkmt");
    assert!(matches!(
        open(&envelope, &forged),
        Err(DecryptError::DecryptionFailed)
    ));
    // A different frame size still in range.
    let (mut envelope, _, context) = sealed(Suite::Sm4Gcm, 1000);
    envelope[10..14].copy_from_slice(&80u32.to_be_bytes());
    assert!(matches!(
        open(&envelope, &context),
        Err(DecryptError::DecryptionFailed)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The parser never panics: on arbitrary bytes, and on arbitrary bytes behind a valid prefix.
    #[test]
    fn parser_never_panics(noise in prop::collection::vec(any::<u8>(), 0..400), keep in 0usize..222) {
        let _ = parse_header(&noise);
        let (envelope, _, context) = sealed(Suite::Aes256Gcm, 10);
        let mut mixed = envelope[..keep].to_vec();
        mixed.extend_from_slice(&noise);
        let _ = parse_header(&mixed);
        prop_assert!(open(&mixed, &context).is_err() || mixed == envelope);
    }
}
