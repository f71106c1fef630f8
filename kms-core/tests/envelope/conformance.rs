//! An independent reader and body sealer written from docs/envelope-format.md alone, checked
//! against the library in both directions (the library's output opens here; a body sealed
//! here opens in the library).

use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::array::Array;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use kms_core::{EncryptOptions, EncryptionContext, Suite, encrypt};

use crate::support::{TestKey, pattern, spec_expand, spec_hmac};

type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, cipher::consts::U12>;

fn nonce(index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = last as u8;
    n
}

fn content_key(suite: Suite, data_key: &[u8], message_id: &[u8]) -> Vec<u8> {
    let len = if suite == Suite::Sm4Gcm { 16 } else { 32 };
    spec_expand(suite, data_key, message_id, "tkms/v1/content-key", len)
}

/// Seals `plaintext` as a v1 body under `data_key` (spec section "Body").
pub(crate) fn seal_body(
    suite: Suite,
    data_key: &[u8],
    message_id: &[u8],
    frame_size: usize,
    plaintext: &[u8],
) -> Vec<u8> {
    let key = content_key(suite, data_key, message_id);
    let chunks: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[][..]]
    } else {
        plaintext.chunks(frame_size).collect()
    };
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let n = nonce(i as u32, i + 1 == chunks.len());
        let mut buf = chunk.to_vec();
        let tag: Vec<u8> = match suite {
            Suite::Aes256Gcm => {
                let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
                k.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(n),
                    Aad::empty(),
                    &mut buf,
                )
                .unwrap()
                .as_ref()
                .to_vec()
            }
            _ => {
                let k: Sm4Gcm = aes_gcm::KeyInit::new_from_slice(&key).unwrap();
                k.encrypt_inout_detached(&Array::from(n), &[], (&mut buf[..]).into())
                    .unwrap()
                    .to_vec()
            }
        };
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
    }
    out
}

struct Cursor<'a>(&'a [u8], usize);
impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.0[self.1..self.1 + n];
        self.1 += n;
        s
    }
    fn u16(&mut self) -> usize {
        u16::from_be_bytes(self.take(2).try_into().unwrap()) as usize
    }
}

/// Opens an envelope per the spec, given the data key. Returns None on any failure.
fn spec_open(envelope: &[u8], data_key: &[u8]) -> Option<Vec<u8>> {
    let mut c = Cursor(envelope, 0);
    assert_eq!(c.take(7), b"TKMSENV");
    assert_eq!(c.take(1), [1]);
    let suite = Suite::from_id(c.u16() as u16).unwrap();
    let frame_size = u32::from_be_bytes(c.take(4).try_into().unwrap()) as usize;
    let message_id = c.take(32).to_vec();
    let pairs = c.u16();
    for _ in 0..pairs * 2 {
        let n = c.u16();
        c.take(n);
    }
    let count = c.take(1)[0];
    for _ in 0..count {
        c.take(2); // method, key ref kind
        let n = c.u16();
        c.take(n);
        let n = c.u16();
        c.take(n);
    }
    let commitment = c.take(32).to_vec();
    let authenticated_end = c.1;
    let tag = c.take(32).to_vec();
    if commitment != spec_expand(suite, data_key, &message_id, "tkms/v1/key-commitment", 32) {
        return None;
    }
    let header_key = spec_expand(suite, data_key, &message_id, "tkms/v1/header-key", 32);
    if tag != spec_hmac(suite, &header_key, &envelope[..authenticated_end]) {
        return None;
    }
    let key = content_key(suite, data_key, &message_id);
    let body = &envelope[c.1..];
    let frames: Vec<&[u8]> = body.chunks(frame_size + 16).collect();
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let (ct, tag) = frame.split_at(frame.len().checked_sub(16)?);
        let n = nonce(i as u32, i + 1 == frames.len());
        let mut buf = ct.to_vec();
        match suite {
            Suite::Aes256Gcm => {
                let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
                k.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(n),
                    Aad::empty(),
                    tag,
                    &mut buf,
                )
                .ok()?;
            }
            _ => {
                let k: Sm4Gcm = aes_gcm::KeyInit::new_from_slice(&key).unwrap();
                let tag = Array::try_from(tag).unwrap();
                k.decrypt_inout_detached(&Array::from(n), &[], (&mut buf[..]).into(), &tag)
                    .ok()?;
            }
        }
        out.extend_from_slice(&buf);
    }
    Some(out)
}

fn data_key_of(envelope: &[u8], key: &TestKey, context: &EncryptionContext) -> Vec<u8> {
    use kms_core::wrap::KeyWrapper;
    let (header, _) = kms_core::parse_header(envelope).unwrap();
    key.unwrap(&header.wrapped_keys[0], context)
        .unwrap()
        .unwrap()
        .expose_secret()
        .to_vec()
}

#[test]
fn library_output_opens_with_the_spec_reader() {
    let key = TestKey::new(60);
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        for (len, fs) in [(0, 64), (1, 64), (64, 64), (1000, 64), (70_000, 65_536)] {
            let context = EncryptionContext::new().with("k", "v");
            let opts = EncryptOptions {
                suite,
                context: context.clone(),
                frame_size: fs,
            };
            let envelope = encrypt(&pattern(len), &[&key], &opts).unwrap();
            let data_key = data_key_of(&envelope, &key, &context);
            assert_eq!(
                spec_open(&envelope, &data_key).as_deref(),
                Some(&pattern(len)[..]),
                "{suite} {len}"
            );
            assert_eq!(spec_open(&envelope, &[0u8; 32]), None);
        }
    }
}

#[test]
fn spec_sealed_body_opens_with_the_library() {
    let key = TestKey::new(61);
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let opts = EncryptOptions {
            suite,
            frame_size: 100,
            ..EncryptOptions::default()
        };
        let envelope = encrypt(b"placeholder", &[&key], &opts).unwrap();
        let (header, header_len) = kms_core::parse_header(&envelope).unwrap();
        let data_key = data_key_of(&envelope, &key, &opts.context);
        let mut rebuilt = envelope[..header_len].to_vec();
        rebuilt.extend_from_slice(&seal_body(
            suite,
            &data_key,
            &header.message_id,
            100,
            &pattern(450),
        ));
        assert_eq!(
            kms_core::decrypt(&rebuilt, &[&key], &opts.context).unwrap(),
            pattern(450)
        );
    }
}
