//! Asymmetric cryptography on the wire: GetPublicKey, AsymmetricRsaDecrypt,
//! AsymmetricSm2Decrypt, SignByAsymmetricKey, VerifyByAsymmetricKey.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use zeroize::Zeroizing;

use super::messages::{
    KeyIdReq, PlaintextResp, PublicKeyResp, RsaDecryptReq, SignReq, SignResp, Sm2DecryptReq,
    VerifyReq, VerifyResp,
};
use super::{CallError, decode_b64, err};
use crate::api::ApiError;
use crate::hsm::{Hsm, Scope};
use crate::material::{RsaPadding, SignAlgorithm, SignInput, public_key_pem};

pub(super) fn public_key(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
) -> Result<impl Serialize, CallError> {
    let der = hsm.public_key(scope, &r.key_id)?;
    Ok(PublicKeyResp {
        public_key: B64.encode(&der),
        public_key_pem: public_key_pem(&der),
        key_id: r.key_id,
    })
}

pub(super) fn rsa_decrypt(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: RsaDecryptReq,
) -> Result<impl Serialize, CallError> {
    let padding = RsaPadding::from_name(&r.algorithm).ok_or_else(|| {
        err::<ApiError>(
            "InvalidParameter",
            "Algorithm must be RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256",
        )
    })?;
    let ciphertext = decode_b64(&r.ciphertext, "Ciphertext")?;
    let plaintext = hsm.rsa_decrypt(scope, &r.key_id, padding, &ciphertext)?;
    Ok(PlaintextResp {
        key_id: Some(r.key_id),
        plaintext: Zeroizing::new(B64.encode(&plaintext[..])),
    })
}

pub(super) fn sm2_decrypt(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: Sm2DecryptReq,
) -> Result<impl Serialize, CallError> {
    let ciphertext = decode_b64(&r.ciphertext, "Ciphertext")?;
    let plaintext = hsm.sm2_decrypt(scope, &r.key_id, &ciphertext)?;
    Ok(PlaintextResp {
        key_id: Some(r.key_id),
        plaintext: Zeroizing::new(B64.encode(&plaintext[..])),
    })
}

pub(super) fn sign(hsm: &Hsm, scope: Scope<'_>, r: SignReq) -> Result<impl Serialize, CallError> {
    let (algorithm, message) = sign_inputs(&r.algorithm, &r.message, r.message_type.as_deref())?;
    let signature = hsm.sign(
        scope,
        &r.key_id,
        algorithm,
        sign_input(&message, r.message_type.as_deref()),
    )?;
    Ok(SignResp {
        signature: B64.encode(signature),
    })
}

pub(super) fn verify(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: VerifyReq,
) -> Result<impl Serialize, CallError> {
    let (algorithm, message) = sign_inputs(&r.algorithm, &r.message, r.message_type.as_deref())?;
    let signature = decode_b64(&r.signature_value, "SignatureValue")?;
    let signature_valid = hsm.verify(
        scope,
        &r.key_id,
        algorithm,
        sign_input(&message, r.message_type.as_deref()),
        &signature,
    )?;
    Ok(VerifyResp { signature_valid })
}

fn sign_inputs(
    algorithm: &str,
    message: &str,
    message_type: Option<&str>,
) -> Result<(SignAlgorithm, Zeroizing<Vec<u8>>), ApiError> {
    let algorithm = SignAlgorithm::from_name(algorithm).ok_or_else(|| {
        err::<ApiError>(
            "InvalidParameter",
            format!("Algorithm must be {}", SignAlgorithm::NAMES),
        )
    })?;
    let message = decode_b64(message, "Message")?;
    match message_type.unwrap_or("RAW") {
        "RAW" | "" => check_raw_message(&message)?,
        "DIGEST" if message.len() == algorithm.digest_len() => {}
        "DIGEST" => {
            return Err(err(
                "InvalidParameter",
                format!(
                    "a DIGEST Message for {} must be exactly {} bytes",
                    algorithm.name(),
                    algorithm.digest_len()
                ),
            ));
        }
        _ => return Err(err("InvalidParameter", "MessageType must be RAW or DIGEST")),
    }
    Ok((algorithm, message))
}

/// A RAW message to sign is at most 4096 bytes (docs/kms-api.md: SignByAsymmetricKey; the
/// post-quantum signatures follow the same limit).
pub(super) fn check_raw_message(message: &[u8]) -> Result<(), ApiError> {
    if message.len() > 4096 {
        return Err(err(
            "InvalidParameter",
            "a RAW Message must be at most 4096 bytes",
        ));
    }
    Ok(())
}

/// The checked message as what is signed (`sign_inputs` has already checked its length).
fn sign_input<'a>(message: &'a [u8], message_type: Option<&str>) -> SignInput<'a> {
    match message_type.unwrap_or("RAW") {
        "DIGEST" => SignInput::Digest(message),
        _ => SignInput::Raw(message),
    }
}
