//! A call read once: the action with its typed parameters (and a Decrypt or ReEncrypt blob
//! already parsed), from which both the access decision (what the call names) and the handler
//! take what they need.

use super::bindings::BindingReq;
use super::messages::{
    AliasReq, CreateKeyReq, DataKeyReq, DecryptReq, DescriptionReq, EncryptReq, ImportParamsReq,
    ImportReq, KeyIdReq, KeyIdsReq, ListReq, RandomReq, ReEncryptReq, RotationReq, RsaDecryptReq,
    ScheduleReq, SignReq, Sm2DecryptReq, VerifyReq,
};
use super::pqc::{PqDecryptReq, PqEncryptReq, PqSignReq, PqVerifyReq};
use super::whitebox::WhiteBoxRequest;
use super::{UNSUPPORTED_ACTIONS, err, parse};
use crate::api::{ApiError, CallTargets};
use crate::blob::{self, Blob};

/// Every implemented action with its parameters.
pub(super) enum Request {
    CreateKey(CreateKeyReq),
    DescribeKey(KeyIdReq),
    DescribeKeys(KeyIdsReq),
    ListKeys(ListReq),
    ListKeyDetail(ListReq),
    UpdateAlias(AliasReq),
    UpdateKeyDescription(DescriptionReq),
    EnableKey(KeyIdReq),
    DisableKey(KeyIdReq),
    EnableKeys(KeyIdsReq),
    DisableKeys(KeyIdsReq),
    ScheduleKeyDeletion(ScheduleReq),
    CancelKeyDeletion(KeyIdReq),
    ArchiveKey(KeyIdReq),
    CancelKeyArchive(KeyIdReq),
    EnableKeyRotation(RotationReq),
    DisableKeyRotation(KeyIdReq),
    GetKeyRotationStatus(KeyIdReq),
    RotateKey(KeyIdReq),
    Encrypt(EncryptReq),
    /// `None`: the CiphertextBlob is not one of ours (the call answers InvalidCiphertext).
    Decrypt(DecryptReq, Option<Blob>),
    ReEncrypt(ReEncryptReq, Option<Blob>),
    GenerateDataKey(DataKeyReq),
    GenerateRandom(RandomReq),
    GetPublicKey(KeyIdReq),
    AsymmetricRsaDecrypt(RsaDecryptReq),
    AsymmetricSm2Decrypt(Sm2DecryptReq),
    SignByAsymmetricKey(SignReq),
    VerifyByAsymmetricKey(VerifyReq),
    GetParametersForImport(ImportParamsReq),
    ImportKeyMaterial(ImportReq),
    DeleteImportedKeyMaterial(KeyIdReq),
    PostQuantumCryptoEncrypt(PqEncryptReq),
    PostQuantumCryptoDecrypt(PqDecryptReq, Option<Blob>),
    PostQuantumCryptoSign(PqSignReq),
    PostQuantumCryptoVerify(PqVerifyReq),
    BindCloudResource(BindingReq),
    UnbindCloudResource(BindingReq),
    ListAlgorithms,
    GetServiceStatus,
    GetRegions,
    /// The 13 white-box actions (dispatch/whitebox.rs).
    WhiteBox(WhiteBoxRequest),
    /// The hosted data-key family (dispatch/datakeys.rs).
    DataKey(super::datakeys::Call),
}

impl Request {
    /// Reads `action`'s parameters into their typed form.
    pub(super) fn parse(action: &str, p: &[u8]) -> Result<Self, ApiError> {
        if let Some(request) = WhiteBoxRequest::parse(action, p) {
            return request.map(Self::WhiteBox);
        }
        if let Some(call) = super::datakeys::Call::parse(action, p)? {
            return Ok(Self::DataKey(call));
        }
        Ok(match action {
            "CreateKey" => Self::CreateKey(parse(p)?),
            "DescribeKey" => Self::DescribeKey(parse(p)?),
            "DescribeKeys" => Self::DescribeKeys(parse(p)?),
            "ListKeys" => Self::ListKeys(parse(p)?),
            "ListKeyDetail" => Self::ListKeyDetail(parse(p)?),
            "UpdateAlias" => Self::UpdateAlias(parse(p)?),
            "UpdateKeyDescription" => Self::UpdateKeyDescription(parse(p)?),
            "EnableKey" => Self::EnableKey(parse(p)?),
            "DisableKey" => Self::DisableKey(parse(p)?),
            "EnableKeys" => Self::EnableKeys(parse(p)?),
            "DisableKeys" => Self::DisableKeys(parse(p)?),
            "ScheduleKeyDeletion" => Self::ScheduleKeyDeletion(parse(p)?),
            "CancelKeyDeletion" => Self::CancelKeyDeletion(parse(p)?),
            "ArchiveKey" => Self::ArchiveKey(parse(p)?),
            "CancelKeyArchive" => Self::CancelKeyArchive(parse(p)?),
            "EnableKeyRotation" => Self::EnableKeyRotation(parse(p)?),
            "DisableKeyRotation" => Self::DisableKeyRotation(parse(p)?),
            "GetKeyRotationStatus" => Self::GetKeyRotationStatus(parse(p)?),
            "RotateKey" => Self::RotateKey(parse(p)?),
            "Encrypt" => Self::Encrypt(parse(p)?),
            "Decrypt" => with_blob(
                parse(p)?,
                |r: &DecryptReq| &r.ciphertext_blob,
                Self::Decrypt,
            ),
            "ReEncrypt" => with_blob(
                parse(p)?,
                |r: &ReEncryptReq| &r.ciphertext_blob,
                Self::ReEncrypt,
            ),
            "GenerateDataKey" => Self::GenerateDataKey(parse(p)?),
            "GenerateRandom" => Self::GenerateRandom(parse(p)?),
            "GetPublicKey" => Self::GetPublicKey(parse(p)?),
            "AsymmetricRsaDecrypt" => Self::AsymmetricRsaDecrypt(parse(p)?),
            "AsymmetricSm2Decrypt" => Self::AsymmetricSm2Decrypt(parse(p)?),
            "SignByAsymmetricKey" => Self::SignByAsymmetricKey(parse(p)?),
            "VerifyByAsymmetricKey" => Self::VerifyByAsymmetricKey(parse(p)?),
            "GetParametersForImport" => Self::GetParametersForImport(parse(p)?),
            "ImportKeyMaterial" => Self::ImportKeyMaterial(parse(p)?),
            "DeleteImportedKeyMaterial" => Self::DeleteImportedKeyMaterial(parse(p)?),
            "PostQuantumCryptoEncrypt" => Self::PostQuantumCryptoEncrypt(parse(p)?),
            "PostQuantumCryptoDecrypt" => with_blob(
                parse(p)?,
                |r: &PqDecryptReq| &r.ciphertext_blob,
                Self::PostQuantumCryptoDecrypt,
            ),
            "PostQuantumCryptoSign" => Self::PostQuantumCryptoSign(parse(p)?),
            "PostQuantumCryptoVerify" => Self::PostQuantumCryptoVerify(parse(p)?),
            "BindCloudResource" => Self::BindCloudResource(parse(p)?),
            "UnbindCloudResource" => Self::UnbindCloudResource(parse(p)?),
            "ListAlgorithms" => Self::ListAlgorithms,
            "GetServiceStatus" => Self::GetServiceStatus,
            "GetRegions" => Self::GetRegions,
            other if UNSUPPORTED_ACTIONS.contains(&other) => {
                return Err(err(
                    "UnsupportedOperation",
                    format!("{other} (cloud-resource binding) is not supported by the tkms mock"),
                ));
            }
            other => {
                return Err(err(
                    "InvalidAction",
                    format!("action {other} does not exist in KMS 2019-01-18"),
                ));
            }
        })
    }

    /// What the call names: its key ids in request order and its EncryptionContext; a data
    /// key names its CMK (`cmk_of`).
    pub(super) fn targets(&self, cmk_of: &dyn Fn(&str) -> Option<String>) -> CallTargets {
        let one = |key_id: &str| vec![key_id.to_owned()];
        let (key_ids, encryption_context) = match self {
            Self::DescribeKey(r)
            | Self::EnableKey(r)
            | Self::DisableKey(r)
            | Self::CancelKeyDeletion(r)
            | Self::ArchiveKey(r)
            | Self::CancelKeyArchive(r)
            | Self::DisableKeyRotation(r)
            | Self::GetKeyRotationStatus(r)
            | Self::RotateKey(r)
            | Self::GetPublicKey(r)
            | Self::DeleteImportedKeyMaterial(r) => (one(&r.key_id), None),
            Self::DescribeKeys(r) | Self::EnableKeys(r) | Self::DisableKeys(r) => {
                (r.key_ids.clone(), None)
            }
            Self::UpdateAlias(r) => (one(&r.key_id), None),
            Self::UpdateKeyDescription(r) => (one(&r.key_id), None),
            Self::ScheduleKeyDeletion(r) => (one(&r.key_id), None),
            Self::EnableKeyRotation(r) => (one(&r.key_id), None),
            Self::Encrypt(r) => (one(&r.key_id), r.encryption_context.clone()),
            Self::Decrypt(r, blob) => (blob_key(blob), r.encryption_context.clone()),
            Self::ReEncrypt(r, blob) => {
                let mut key_ids = blob_key(blob);
                key_ids.extend(r.destination_key_id.clone());
                (key_ids, None)
            }
            Self::GenerateDataKey(r) => (one(&r.key_id), r.encryption_context.clone()),
            Self::AsymmetricRsaDecrypt(r) => (one(&r.key_id), None),
            Self::AsymmetricSm2Decrypt(r) => (one(&r.key_id), None),
            Self::SignByAsymmetricKey(r) => (one(&r.key_id), None),
            Self::VerifyByAsymmetricKey(r) => (one(&r.key_id), None),
            Self::GetParametersForImport(r) => (one(&r.key_id), None),
            Self::ImportKeyMaterial(r) => (one(&r.key_id), None),
            Self::WhiteBox(r) => (r.key_ids(), None),
            Self::PostQuantumCryptoEncrypt(r) => (one(&r.key_id), None),
            Self::PostQuantumCryptoDecrypt(_, blob) => (blob_key(blob), None),
            Self::PostQuantumCryptoSign(r) => (one(&r.key_id), None),
            Self::PostQuantumCryptoVerify(r) => (one(&r.key_id), None),
            Self::BindCloudResource(r) | Self::UnbindCloudResource(r) => (one(&r.key_id), None),
            Self::CreateKey(_)
            | Self::ListKeys(_)
            | Self::ListKeyDetail(_)
            | Self::GenerateRandom(_)
            | Self::ListAlgorithms
            | Self::GetServiceStatus
            | Self::GetRegions => (Vec::new(), None),
            Self::DataKey(call) => return call.targets(cmk_of),
        };
        CallTargets {
            key_ids,
            encryption_context,
        }
    }
}

/// A request with its CiphertextBlob parsed.
fn with_blob<R>(
    request: R,
    text: impl Fn(&R) -> &String,
    variant: impl Fn(R, Option<Blob>) -> Request,
) -> Request {
    let blob = blob::parse(text(&request));
    variant(request, blob)
}

fn blob_key(blob: &Option<Blob>) -> Vec<String> {
    blob.iter().map(|b| b.key_id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::material::Algorithm;

    const A: &str = "23e80852-1e38-11e9-b129-5cb9019b4b01";
    const B: &str = "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e";

    /// The typed read names the same keys and context as the lenient read the access decision
    /// falls back on, so a call is judged alike whichever read served it.
    #[test]
    fn typed_targets_agree_with_the_lenient_read() {
        let header = blob::header(Algorithm::Aes256, B, 3).expect("header");
        let blob = blob::encode(&header, &[7; 12], &[9; 24]);
        let pq_header = blob::header(Algorithm::MlKem768, A, 1).expect("header");
        let pq_blob = blob::encode(&pq_header, &[7; 12], &[9; 1200]);
        let cases = [
            (
                "Encrypt",
                format!(
                    r#"{{"KeyId":"{A}","Plaintext":"aGk=","EncryptionContext":"{{\"a\":\"b\"}}"}}"#
                ),
            ),
            (
                "Decrypt",
                format!(r#"{{"CiphertextBlob":"{blob}","EncryptionContext":"{{}}"}}"#),
            ),
            ("Decrypt", r#"{"CiphertextBlob":"not a blob"}"#.to_owned()),
            (
                "ReEncrypt",
                format!(r#"{{"CiphertextBlob":"{blob}","DestinationKeyId":"{A}"}}"#),
            ),
            ("ReEncrypt", format!(r#"{{"CiphertextBlob":"{blob}"}}"#)),
            (
                "GenerateDataKey",
                format!(r#"{{"KeyId":"{A}","KeySpec":"AES_256"}}"#),
            ),
            ("DescribeKeys", format!(r#"{{"KeyIds":["{A}","{B}"]}}"#)),
            ("EnableKeys", format!(r#"{{"KeyIds":["{B}"]}}"#)),
            ("UpdateAlias", format!(r#"{{"KeyId":"{A}","Alias":"x"}}"#)),
            (
                "ScheduleKeyDeletion",
                format!(r#"{{"KeyId":"{A}","PendingWindowInDays":7}}"#),
            ),
            (
                "SignByAsymmetricKey",
                format!(r#"{{"KeyId":"{A}","Algorithm":"SM2DSA","Message":"aGk="}}"#),
            ),
            (
                "ImportKeyMaterial",
                format!(r#"{{"KeyId":"{A}","EncryptedKeyMaterial":"aGk=","ImportToken":"t"}}"#),
            ),
            (
                "EncryptByWhiteBox",
                format!(r#"{{"KeyId":"{A}","PlainText":"aGk="}}"#),
            ),
            (
                "DisableWhiteBoxKeys",
                format!(r#"{{"KeyIds":["{A}","{B}"]}}"#),
            ),
            (
                "CreateWhiteBoxKey",
                r#"{"Alias":"x","Algorithm":"SM4"}"#.to_owned(),
            ),
            (
                "ImportDataKey",
                format!(
                    r#"{{"KeyId":"{A}","DataKeyName":"n","ImportKeyMaterial":"aGk=","ImportType":2}}"#
                ),
            ),
            ("GetDataKeyPlaintext", format!(r#"{{"DataKeyId":"{B}"}}"#)),
            (
                "PostQuantumCryptoDecrypt",
                format!(r#"{{"CiphertextBlob":"{pq_blob}"}}"#),
            ),
            (
                "PostQuantumCryptoSign",
                format!(r#"{{"KeyId":"{A}","Message":"aGk="}}"#),
            ),
            ("CreateKey", r#"{"Alias":"x"}"#.to_owned()),
            ("ListKeys", "{}".to_owned()),
        ];
        for (action, params) in cases {
            let typed = Request::parse(action, params.as_bytes())
                .unwrap_or_else(|e| panic!("{action} {params}: {e}"))
                .targets(&|_| None);
            let lenient = CallTargets::read(action, params.as_bytes()).expect("lenient read");
            assert_eq!(typed, lenient, "{action} {params}");
        }
        let decrypt = format!(r#"{{"CiphertextBlob":"{blob}"}}"#);
        let targets = Request::parse("Decrypt", decrypt.as_bytes())
            .expect("parses")
            .targets(&|_| None);
        assert_eq!(targets.key_ids, [B]);
    }
}
