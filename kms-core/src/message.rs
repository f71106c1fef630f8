//! One-shot encryption and decryption of byte slices, and the header work both APIs share:
//! choosing and wrapping the data key, and unwrapping and authenticating it again.

use zeroize::Zeroizing;

use crate::aead::{Cipher, check_suite};
use crate::body::{open_frames, seal_frames, sealed_len, split_sealed};
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError, FormatError, WrapError};
use crate::format::{
    DEFAULT_FRAME_SIZE, Header, MAX_FRAMES, VersionedHeader, check_frame_size, read_versioned,
    write_v1,
};
use crate::kdf::{MESSAGE_ID_LEN, MessageKeys};
use crate::secret::DataKey;
use crate::suite::Suite;
use crate::wrap::{KeyWrapper, WrappedKey};

/// How to seal a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptOptions {
    /// Data-key suite (default AES-256-GCM).
    pub suite: Suite,
    /// Encryption context, authenticated with the message.
    pub context: EncryptionContext,
    /// Plaintext bytes per frame (default 64 KiB; 64 B ..= 16 MiB).
    pub frame_size: u32,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            suite: Suite::Aes256Gcm,
            context: EncryptionContext::new(),
            frame_size: DEFAULT_FRAME_SIZE,
        }
    }
}

/// Seals `plaintext` for every key in `wrappers` (at least one).
///
/// Frames are sealed on all rayon threads; the output does not depend on the thread count.
pub fn encrypt(
    plaintext: &[u8],
    wrappers: &[&dyn KeyWrapper],
    options: &EncryptOptions,
) -> Result<Vec<u8>, EncryptError> {
    seal_message(plaintext, options, || seal_header(wrappers, options))
}

/// Seals `plaintext` under the header and cipher that `header` returns (called once the
/// options are known to fit the message, so no data key is spent on a refused message).
pub(crate) fn seal_message(
    plaintext: &[u8],
    options: &EncryptOptions,
    header: impl FnOnce() -> Result<(Vec<u8>, Cipher), EncryptError>,
) -> Result<Vec<u8>, EncryptError> {
    check_frame_size(options.frame_size)?;
    let frame_size = options.frame_size as usize;
    if crate::body::frame_count(plaintext.len(), frame_size) as u64 > MAX_FRAMES {
        return Err(FormatError::UnsupportedFrameSize(options.frame_size).into());
    }
    let (header, cipher) = header()?;
    // Zeroed memory from the allocator (often fresh pages, no memset); each task seals its
    // frames from the plaintext straight into place.
    let mut out = vec![0u8; header.len() + sealed_len(plaintext.len(), frame_size)];
    out[..header.len()].copy_from_slice(&header);
    seal_frames(
        &cipher,
        Some(plaintext),
        &mut out[header.len()..],
        frame_size,
        0,
        true,
    );
    Ok(out)
}

/// Opens `envelope` with the first of `unwrappers` that can unwrap one of its data keys.
/// `context` must equal the context the message was sealed with.
///
/// Frames are opened on all rayon threads. Nothing is returned unless every frame authenticated.
pub fn decrypt(
    envelope: &[u8],
    unwrappers: &[&dyn KeyWrapper],
    context: &EncryptionContext,
) -> Result<Vec<u8>, DecryptError> {
    open_message(envelope, |parsed| open_header(parsed, unwrappers, context))
}

/// Opens `envelope` with the header and cipher that `open` authenticates.
pub(crate) fn open_message(
    envelope: &[u8],
    open: impl FnOnce(VersionedHeader) -> Result<(Header, Cipher), DecryptError>,
) -> Result<Vec<u8>, DecryptError> {
    let mut input = envelope;
    let parsed = read_versioned(&mut input)?;
    let (header, cipher) = open(parsed)?;
    let body = input;
    let frame_size = header.frame_size as usize;
    let (_, plaintext_len) =
        split_sealed(body.len(), frame_size, 0).ok_or(DecryptError::DecryptionFailed)?;
    // Zeroized if any frame fails: partial plaintext never outlives this call.
    let mut out = Zeroizing::new(vec![0u8; plaintext_len]);
    open_frames(&cipher, body, &mut out, frame_size, 0, true)
        .map_err(|_| DecryptError::DecryptionFailed)?;
    Ok(core::mem::take(&mut *out))
}

/// Chooses the data key, wraps it for every wrapper, and writes the header.
pub(crate) fn seal_header(
    wrappers: &[&dyn KeyWrapper],
    options: &EncryptOptions,
) -> Result<(Vec<u8>, Cipher), EncryptError> {
    check_seal_options(options)?;
    let (data_key, wrapped_keys) = new_data_key(wrappers, &options.context)?;
    write_header(options, &data_key, &wrapped_keys)
}

/// Refuses options that cannot make a header, before any KMS call.
pub(crate) fn check_seal_options(options: &EncryptOptions) -> Result<(), EncryptError> {
    check_frame_size(options.frame_size)?;
    check_suite(options.suite)?;
    options.context.to_canonical_bytes()?;
    Ok(())
}

/// A fresh data key wrapped for every wrapper (at least one). A KMS first wrapper generates
/// it (GenerateDataKey); otherwise the OS CSPRNG does.
pub(crate) fn new_data_key(
    wrappers: &[&dyn KeyWrapper],
    context: &EncryptionContext,
) -> Result<(DataKey, Vec<WrappedKey>), EncryptError> {
    let (first, rest) = wrappers.split_first().ok_or(EncryptError::NoRecipients)?;
    let mut wrapped_keys = Vec::with_capacity(wrappers.len());
    let data_key = match first.generate(context)? {
        Some((data_key, wrapped)) => {
            wrapped_keys.push(wrapped);
            data_key
        }
        None => {
            let data_key = DataKey::generate();
            wrapped_keys.push(first.wrap(&data_key, context)?);
            data_key
        }
    };
    for wrapper in rest {
        wrapped_keys.push(wrapper.wrap(&data_key, context)?);
    }
    Ok((data_key, wrapped_keys))
}

/// The header of a new message under `data_key`: a fresh random message id, so the message's
/// content key, header key and commitment are its own (docs/caching.md).
pub(crate) fn write_header(
    options: &EncryptOptions,
    data_key: &DataKey,
    wrapped_keys: &[WrappedKey],
) -> Result<(Vec<u8>, Cipher), EncryptError> {
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    getrandom::fill(&mut message_id).expect("the OS CSPRNG failed");
    let keys = MessageKeys::derive(options.suite, data_key, &message_id)?;
    let header = write_v1(
        options.suite,
        options.frame_size,
        &message_id,
        &options.context,
        wrapped_keys,
        &keys,
    )?;
    Ok((header, keys.cipher))
}

/// Checks the context, unwraps the data key, and authenticates the header (commitment and tag).
pub(crate) fn open_header(
    parsed: VersionedHeader,
    unwrappers: &[&dyn KeyWrapper],
    context: &EncryptionContext,
) -> Result<(Header, Cipher), DecryptError> {
    let (header, cipher, _) = open_header_with(parsed, context, |header| {
        unwrap_data_key(header, unwrappers)
    })?;
    Ok((header, cipher))
}

/// [`open_header`] with the data key from `data_key`, which is returned again once the header
/// authenticated under it (so a cache keeps only keys that opened a real message).
pub(crate) fn open_header_with<K: core::borrow::Borrow<DataKey>>(
    parsed: VersionedHeader,
    context: &EncryptionContext,
    data_key: impl FnOnce(&Header) -> Result<K, DecryptError>,
) -> Result<(Header, Cipher, K), DecryptError> {
    let VersionedHeader::V1(v1) = parsed;
    // The context is in clear in the header: saying it differs leaks nothing.
    if &v1.header.context != context {
        return Err(DecryptError::ContextMismatch);
    }
    // Refuse before any KMS call.
    check_suite(v1.header.suite)?;
    let data_key = data_key(&v1.header)?;
    let keys = MessageKeys::derive(v1.header.suite, data_key.borrow(), &v1.header.message_id)?;
    if !keys.verify(&v1.commitment, &v1.authenticated, &v1.tag) {
        return Err(DecryptError::DecryptionFailed);
    }
    Ok((v1.header, keys.cipher, data_key))
}

/// Tries every unwrapper (in order) against every wrapped key.
pub(crate) fn unwrap_data_key(
    header: &Header,
    unwrappers: &[&dyn KeyWrapper],
) -> Result<DataKey, DecryptError> {
    let mut first_error: Option<DecryptError> = None;
    for unwrapper in unwrappers {
        for wrapped in &header.wrapped_keys {
            match unwrapper.unwrap(wrapped, &header.context) {
                Ok(Some(data_key)) => return Ok(data_key),
                Ok(None) => {}
                Err(err) => {
                    let err = match err {
                        WrapError::Kms(kms) => Some(DecryptError::Kms(kms)),
                        WrapError::Crypto | WrapError::Format(_) => {
                            Some(DecryptError::DecryptionFailed)
                        }
                        // A wrapper that cannot decrypt at all is as good as not matching.
                        WrapError::NoPrivateKey | WrapError::Unsupported(_) => None,
                    };
                    if first_error.is_none() {
                        first_error = err;
                    }
                }
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        let refs: Vec<String> = header
            .wrapped_keys
            .iter()
            .map(|w| w.key_ref.to_string())
            .collect();
        DecryptError::NoMatchingKey(refs.join(", "))
    }))
}
