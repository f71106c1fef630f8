//! Symmetric cryptography on the wire: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateRandom.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use zeroize::Zeroizing;

use super::messages::{
    DataKeyReq, DataKeyResp, DecryptReq, EncryptReq, EncryptResp, PlaintextResp, RandomReq,
    ReEncryptReq, ReEncryptResp,
};
use super::{CallError, answer_plaintext, decode_plaintext, err};
use crate::api::ApiError;
use crate::blob::Blob;
use crate::hsm::{Hsm, Scope};

pub(super) fn encrypt(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: EncryptReq,
) -> Result<impl Serialize, CallError> {
    let plaintext = decode_plaintext(&r.plaintext, "Plaintext")?;
    let ciphertext_blob = hsm.encrypt(
        scope,
        &r.key_id,
        &plaintext,
        r.encryption_context.as_deref(),
    )?;
    Ok(EncryptResp {
        ciphertext_blob,
        key_id: r.key_id,
    })
}
/// `blob`: the CiphertextBlob, parsed (`None` when it is not one of ours).
pub(super) fn decrypt(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: DecryptReq,
    blob: Option<Blob>,
) -> Result<impl Serialize, CallError> {
    let opened = hsm.decrypt(scope, blob.as_ref(), r.encryption_context.as_deref())?;
    Ok(PlaintextResp {
        key_id: Some(opened.key_id),
        plaintext: answer_plaintext(
            hsm,
            opened.plaintext,
            r.encryption_public_key.as_deref(),
            r.encryption_algorithm.as_deref(),
        )?,
    })
}
pub(super) fn re_encrypt(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: ReEncryptReq,
    source: Option<Blob>,
) -> Result<impl Serialize, CallError> {
    let out = hsm.re_encrypt(
        scope,
        &r.ciphertext_blob,
        source.as_ref(),
        r.destination_key_id.as_deref(),
        r.source_encryption_context.as_deref(),
        r.destination_encryption_context.as_deref(),
    )?;
    Ok(ReEncryptResp {
        ciphertext_blob: out.blob,
        key_id: out.key_id,
        source_key_id: out.source_key_id,
        re_encrypted: out.re_encrypted,
    })
}
pub(super) fn generate_data_key(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: DataKeyReq,
) -> Result<impl Serialize, CallError> {
    let hosted = match r.is_hosted_by_kms.unwrap_or(0) {
        0 => None,
        1 => Some(super::datakeys::hosted(r.hosted)?),
        _ => return Err(err("InvalidParameter", "IsHostedByKms must be 0 or 1")),
    };
    let len = match (r.number_of_bytes, r.key_spec.as_deref()) {
        (Some(n), _) if (1..=1024).contains(&n) => n as usize,
        (Some(_), _) => return Err(err("InvalidParameter", "NumberOfBytes must be 1 to 1024")),
        (None, Some("AES_128")) => 16,
        (None, Some("AES_256")) => 32,
        (None, Some(_)) => {
            return Err(err(
                "InvalidParameter",
                "KeySpec must be AES_128 or AES_256",
            ));
        }
        (None, None) => {
            return Err(err(
                "InvalidParameter",
                "one of KeySpec and NumberOfBytes is required",
            ));
        }
    };
    let context = r.encryption_context.as_deref();
    let (data_key, ciphertext_blob, data_key_id) = match hosted {
        None => {
            let (data_key, blob) = hsm.generate_data_key(scope, &r.key_id, len, context)?;
            (data_key, blob, None)
        }
        Some(new) => {
            let (data_key, blob, id) =
                hsm.generate_hosted_data_key(scope, &r.key_id, len, context, new)?;
            (data_key, blob, Some(id))
        }
    };
    let out = hsm.seal_for_caller(
        data_key,
        r.encryption_public_key.as_deref(),
        r.encryption_algorithm.as_deref(),
    )?;
    Ok(DataKeyResp {
        key_id: r.key_id,
        plaintext: Zeroizing::new(B64.encode(&out[..])),
        ciphertext_blob,
        data_key_id,
    })
}

pub(super) fn generate_random(
    _: &Hsm,
    _: Scope<'_>,
    r: RandomReq,
) -> Result<impl Serialize, CallError> {
    if !(1..=1024).contains(&r.number_of_bytes) {
        return Err(err("InvalidParameter", "NumberOfBytes must be 1 to 1024"));
    }
    let bytes = crate::material::random_bytes(r.number_of_bytes as usize)
        .map_err(|_| err::<ApiError>("InternalError", "random generator failed"))?;
    Ok(PlaintextResp {
        key_id: None,
        plaintext: Zeroizing::new(B64.encode(&bytes[..])),
    })
}
