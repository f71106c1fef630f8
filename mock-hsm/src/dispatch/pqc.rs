//! Post-quantum cryptography on the wire: PostQuantumCryptoEncrypt, PostQuantumCryptoDecrypt,
//! PostQuantumCryptoSign, PostQuantumCryptoVerify. Their bodies spell `PlainText` with a
//! capital T (docs/kms-api.md §2), unlike Encrypt's `Plaintext`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::asymmetric::check_raw_message;
use super::messages::{EncryptResp, SignResp, VerifyResp};
use super::{CallError, answer_plaintext, decode_b64, decode_plaintext};
use crate::blob::Blob;
use crate::hsm::{Hsm, Scope};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PqEncryptReq {
    pub(super) key_id: String,
    pub(super) plain_text: Zeroizing<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PqDecryptReq {
    pub(super) ciphertext_blob: String,
    #[serde(default)]
    pub(super) encryption_public_key: Option<String>,
    #[serde(default)]
    pub(super) encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PqSignReq {
    pub(super) key_id: String,
    pub(super) message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PqVerifyReq {
    pub(super) key_id: String,
    pub(super) message: String,
    pub(super) signature_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PqPlaintextResp {
    key_id: String,
    plain_text: Zeroizing<String>,
}

pub(super) fn encrypt(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: PqEncryptReq,
) -> Result<impl Serialize, CallError> {
    let plaintext = decode_plaintext(&r.plain_text, "PlainText")?;
    let ciphertext_blob = hsm.pq_encrypt(scope, &r.key_id, &plaintext)?;
    Ok(EncryptResp {
        ciphertext_blob,
        key_id: r.key_id,
    })
}

/// `blob`: the CiphertextBlob, parsed (`None` when it is not one of ours).
pub(super) fn decrypt(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: PqDecryptReq,
    blob: Option<Blob>,
) -> Result<impl Serialize, CallError> {
    let opened = hsm.pq_decrypt(scope, blob.as_ref())?;
    Ok(PqPlaintextResp {
        key_id: opened.key_id,
        plain_text: answer_plaintext(
            hsm,
            opened.plaintext,
            r.encryption_public_key.as_deref(),
            r.encryption_algorithm.as_deref(),
        )?,
    })
}

pub(super) fn sign(hsm: &Hsm, scope: Scope<'_>, r: PqSignReq) -> Result<impl Serialize, CallError> {
    let message = decode_b64(&r.message, "Message")?;
    check_raw_message(&message)?;
    let signature = hsm.pq_sign(scope, &r.key_id, &message)?;
    Ok(SignResp {
        signature: B64.encode(signature),
    })
}

pub(super) fn verify(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: PqVerifyReq,
) -> Result<impl Serialize, CallError> {
    let message = decode_b64(&r.message, "Message")?;
    check_raw_message(&message)?;
    let signature = decode_b64(&r.signature_value, "SignatureValue")?;
    let signature_valid = hsm.pq_verify(scope, &r.key_id, &message, &signature)?;
    Ok(VerifyResp { signature_valid })
}
