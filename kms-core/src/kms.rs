//! The KMS client contract.
//!
//! [`KmsTransport`] is one Tencent Cloud KMS API call (action name plus JSON parameters, as in
//! the body of a TC3 POST). Two backends implement it: `mock_hsm` in-process, and the HTTP
//! client (TC3-HMAC-SHA256) that talks to `tkms serve` or to the real kms.tencentcloudapi.com.
//! [`KmsClient`] adds typed methods for the actions envelope encryption needs, for every
//! transport, so the same code runs against the mock and the cloud.

use std::ops::ControlFlow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

mod async_call;
mod key;
mod manage;

pub use async_call::{AsyncKms, AsyncKmsTransport, KmsAnswer, KmsFuture};

pub use key::{KeyOperation, KeyState, StateRefusal, alias_of, is_key_id};
pub use manage::{KeyFilter, KeyManagement, StateChange};

use crate::internal::{SecretBuf, zeroize_json_strings};
use crate::secret::SecretBytes;

/// Largest page ListKeyDetail returns (docs/kms-api.md §3.2).
const LIST_PAGE: u32 = 200;
/// Pages of ListKeyDetail read when resolving an alias (10 000 fuzzy matches).
const MAX_LIST_PAGES: usize = 50;

/// Error code a transport uses when the request never got a KMS answer.
pub const CLIENT_NETWORK_ERROR: &str = "ClientNetworkError";

/// An error from a KMS call: the Tencent Cloud error code (`ResourceUnavailable.CmkDisabled`, ...),
/// its message, and the request id when the service sent one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct KmsError {
    /// Tencent Cloud error code, dotted (`AuthFailure.SignatureFailure`).
    pub code: String,
    /// Human-readable message (never contains secrets).
    pub message: String,
    /// The `RequestId` of the failed call, when there was one.
    pub request_id: Option<String>,
}

impl KmsError {
    /// A new error with no request id.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            request_id: None,
        }
    }

    /// True for codes that a client should retry with backoff.
    pub fn is_retryable(&self) -> bool {
        self.code == "InternalError"
            || self.code == CLIENT_NETWORK_ERROR
            || self.code.starts_with("RequestLimitExceeded")
    }

    /// True for refusals that come from the key's state (disabled, pending deletion, archived...).
    pub fn is_key_state_refusal(&self) -> bool {
        self.code.starts_with("ResourceUnavailable.")
    }

    /// True for authentication and authorisation failures.
    pub fn is_auth_failure(&self) -> bool {
        self.code.starts_with("AuthFailure") || self.code.contains("UnauthorizedOperation")
    }
}

/// One Tencent Cloud KMS (API version 2019-01-18) call.
pub trait KmsTransport: Send + Sync {
    /// Calls `action` (e.g. `"Encrypt"`) with `params`, the JSON object of its request fields.
    /// On success returns the JSON object inside `{"Response": ...}` (with `RequestId`);
    /// on failure the Tencent error. Both buffers may carry secrets and are zeroized.
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError>;
}

impl<T: KmsTransport + ?Sized> KmsTransport for std::sync::Arc<T> {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        (**self).call(action, params)
    }
}

impl<T: KmsTransport + ?Sized> KmsTransport for &T {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        (**self).call(action, params)
    }
}

/// A data key from GenerateDataKey: its plaintext and the CMK-wrapped CiphertextBlob.
#[derive(Debug)]
pub struct GeneratedDataKey {
    /// The CMK that wrapped it.
    pub key_id: String,
    /// The data key.
    pub plaintext: SecretBytes,
    /// The data key under the CMK (pass to Decrypt).
    pub ciphertext_blob: String,
}

/// The result of Decrypt.
#[derive(Debug)]
pub struct Decrypted {
    /// The CMK named in the blob.
    pub key_id: String,
    /// The plaintext.
    pub plaintext: SecretBytes,
}

/// A CMK's public key, from GetPublicKey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// The CMK.
    pub key_id: String,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The same key as PEM (`-----BEGIN PUBLIC KEY-----`).
    pub pem: String,
}

/// KeyMetadata, as DescribeKey and ListKeyDetail return it (docs/kms-api.md §4.4): the 18
/// documented fields and `IsSyncReplica`. Absent fields read as empty or zero; fields beyond
/// these (replication and member-account details) are not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyMetadata {
    /// The CMK's KeyId.
    pub key_id: String,
    /// Its alias.
    pub alias: String,
    /// Creation time, Unix seconds.
    pub create_time: u64,
    /// Its description.
    pub description: String,
    /// `Enabled`, `Disabled`, `PendingDelete`, `PendingImport`, `Archived` ([`KeyState`]).
    pub key_state: String,
    /// `ENCRYPT_DECRYPT`, `ASYMMETRIC_DECRYPT_RSA_2048`, `ASYMMETRIC_DECRYPT_SM2`, ...
    pub key_usage: String,
    /// KeyMetadata `Type`: 4 for national-secret (SM) material, 2 for FIPS (AES/RSA/ECC).
    #[serde(rename = "Type")]
    pub key_type: i64,
    /// The account that created it.
    pub creator_uin: u64,
    /// Whether scheduled rotation is on.
    pub key_rotation_enabled: bool,
    /// `user`, or the cloud product that created it.
    pub owner: String,
    /// Next scheduled rotation, Unix seconds (0: none).
    pub next_rotate_time: u64,
    /// When a PendingDelete key is deleted, Unix seconds (0 otherwise).
    pub deletion_date: u64,
    /// `TENCENT_KMS` or `EXTERNAL`.
    pub origin: String,
    /// When imported material expires, Unix seconds (0: never).
    pub valid_to: u64,
    /// `creatorUin/<uin>/<KeyId>`.
    pub resource_id: String,
    /// The HSM cluster (empty: the shared one).
    pub hsm_cluster_id: String,
    /// Days between scheduled rotations.
    pub rotate_days: u64,
    /// Last rotation, Unix seconds (0: never).
    pub last_rotate_time: u64,
    /// 0 for a primary key, 1 for a replica.
    pub is_sync_replica: u64,
}

impl KeyMetadata {
    /// Its state, when the KMS sent one of the five it documents.
    pub fn state(&self) -> Option<KeyState> {
        KeyState::parse(&self.key_state)
    }
}

/// Padding for AsymmetricRsaDecrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaDecryptAlgorithm {
    /// `RSAES_PKCS1_V1_5`
    Pkcs1V15,
    /// `RSAES_OAEP_SHA_1`
    OaepSha1,
    /// `RSAES_OAEP_SHA_256`
    OaepSha256,
}

impl RsaDecryptAlgorithm {
    /// The API's name for it.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Pkcs1V15 => "RSAES_PKCS1_V1_5",
            Self::OaepSha1 => "RSAES_OAEP_SHA_1",
            Self::OaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }
}

/// Typed calls for envelope encryption, available on every [`KmsTransport`].
pub trait KmsClient {
    /// GenerateDataKey with `NumberOfBytes`.
    fn generate_data_key(
        &self,
        key_id: &str,
        number_of_bytes: usize,
        context: Option<&str>,
    ) -> Result<GeneratedDataKey, KmsError>;
    /// Encrypt (plaintext up to 4096 bytes); returns the CiphertextBlob.
    fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: Option<&str>,
    ) -> Result<String, KmsError>;
    /// Decrypt a CiphertextBlob.
    fn decrypt(&self, ciphertext_blob: &str, context: Option<&str>) -> Result<Decrypted, KmsError>;
    /// GetPublicKey of an asymmetric CMK.
    fn get_public_key(&self, key_id: &str) -> Result<PublicKeyInfo, KmsError>;
    /// AsymmetricRsaDecrypt.
    fn asymmetric_rsa_decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        algorithm: RsaDecryptAlgorithm,
    ) -> Result<SecretBytes, KmsError>;
    /// AsymmetricSm2Decrypt (ciphertext: C1C3C2 ASN.1 DER).
    fn asymmetric_sm2_decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, KmsError>;
    /// DescribeKey.
    fn describe_key(&self, key_id: &str) -> Result<KeyMetadata, KmsError>;
    /// The CMK `name` names: a KeyId ([`is_key_id`]) through DescribeKey, or else an alias
    /// (`alias/` optional) matched exactly among ListKeyDetail's fuzzy `SearchKeyAlias` hits,
    /// then described. `None` when no key has that alias.
    fn find_key(&self, name: &str) -> Result<Option<KeyMetadata>, KmsError>;
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PlaintextResponse {
    #[serde(default)]
    key_id: String,
    plaintext: Zeroizing<String>,
    #[serde(default)]
    ciphertext_blob: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptResponse {
    ciphertext_blob: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublicKeyResponse {
    key_id: String,
    public_key: String,
    public_key_pem: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeKeyResponse {
    key_metadata: KeyMetadata,
}

/// Pages through ListKeyDetail with `filter`, oldest key first, handing each page to `visit`
/// until it breaks or the list ends. A page may be shorter than asked, so the next offset is
/// what was actually returned.
pub(crate) fn list_key_pages(
    transport: &(impl KmsTransport + ?Sized),
    filter: &KeyFilter<'_>,
    mut visit: impl FnMut(Vec<KeyMetadata>) -> ControlFlow<()>,
) -> Result<(), KmsError> {
    let mut offset = 0u64;
    loop {
        let mut params = json!({
            "KeyUsage": "ALL",
            "Offset": offset,
            "Limit": LIST_PAGE,
            "OrderType": 1,
        });
        if let Some(state) = filter.state {
            params["KeyState"] = json!(state.list_filter());
        }
        if let Some(search) = filter.search {
            params["SearchKeyAlias"] = json!(search);
        }
        let listed: KeyDetailList = call(transport, "ListKeyDetail", params)?;
        let page = listed.key_metadatas.unwrap_or_default();
        offset += page.len() as u64;
        let last = page.is_empty() || listed.total_count.is_some_and(|total| offset >= total);
        if visit(page).is_break() || last {
            return Ok(());
        }
    }
}

/// One page of ListKeyDetail.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyDetailList {
    #[serde(default)]
    key_metadatas: Option<Vec<KeyMetadata>>,
    #[serde(default)]
    total_count: Option<u64>,
}

pub(crate) fn call<T: serde::de::DeserializeOwned>(
    transport: &(impl KmsTransport + ?Sized),
    action: &str,
    mut params: serde_json::Value,
) -> Result<T, KmsError> {
    let body = SecretBuf::json(&params).expect("JSON values always serialise");
    zeroize_json_strings(&mut params);
    let response = transport.call(action, &body)?;
    serde_json::from_slice(&response).map_err(|e| {
        KmsError::new(
            "InternalError",
            format!("unexpected {action} response from the KMS: {e}"),
        )
    })
}

fn decode_secret(b64: &str, action: &str) -> Result<SecretBytes, KmsError> {
    B64.decode(b64).map(SecretBytes::new).map_err(|_| {
        KmsError::new(
            "InternalError",
            format!("{action} returned a Plaintext that is not base64"),
        )
    })
}

fn with_context(mut params: serde_json::Value, context: Option<&str>) -> serde_json::Value {
    if let Some(context) = context {
        params["EncryptionContext"] = json!(context);
    }
    params
}

impl<T: KmsTransport + ?Sized> KmsClient for T {
    fn generate_data_key(
        &self,
        key_id: &str,
        number_of_bytes: usize,
        context: Option<&str>,
    ) -> Result<GeneratedDataKey, KmsError> {
        let params = with_context(
            json!({"KeyId": key_id, "NumberOfBytes": number_of_bytes}),
            context,
        );
        let r: PlaintextResponse = call(self, "GenerateDataKey", params)?;
        Ok(GeneratedDataKey {
            plaintext: decode_secret(&r.plaintext, "GenerateDataKey")?,
            key_id: r.key_id,
            ciphertext_blob: r.ciphertext_blob,
        })
    }

    fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: Option<&str>,
    ) -> Result<String, KmsError> {
        let encoded = Zeroizing::new(B64.encode(plaintext));
        let params = with_context(
            json!({"KeyId": key_id, "Plaintext": encoded.as_str()}),
            context,
        );
        let r: EncryptResponse = call(self, "Encrypt", params)?;
        Ok(r.ciphertext_blob)
    }

    fn decrypt(&self, ciphertext_blob: &str, context: Option<&str>) -> Result<Decrypted, KmsError> {
        let params = with_context(json!({"CiphertextBlob": ciphertext_blob}), context);
        let r: PlaintextResponse = call(self, "Decrypt", params)?;
        Ok(Decrypted {
            plaintext: decode_secret(&r.plaintext, "Decrypt")?,
            key_id: r.key_id,
        })
    }

    fn get_public_key(&self, key_id: &str) -> Result<PublicKeyInfo, KmsError> {
        let r: PublicKeyResponse = call(self, "GetPublicKey", json!({"KeyId": key_id}))?;
        let spki_der = B64.decode(&r.public_key).map_err(|_| {
            KmsError::new(
                "InternalError",
                "GetPublicKey returned a PublicKey that is not base64",
            )
        })?;
        Ok(PublicKeyInfo {
            key_id: r.key_id,
            spki_der,
            pem: r.public_key_pem,
        })
    }

    fn asymmetric_rsa_decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        algorithm: RsaDecryptAlgorithm,
    ) -> Result<SecretBytes, KmsError> {
        let params = json!({"KeyId": key_id, "Ciphertext": B64.encode(ciphertext), "Algorithm": algorithm.api_name()});
        let r: PlaintextResponse = call(self, "AsymmetricRsaDecrypt", params)?;
        decode_secret(&r.plaintext, "AsymmetricRsaDecrypt")
    }

    fn asymmetric_sm2_decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, KmsError> {
        let params = json!({"KeyId": key_id, "Ciphertext": B64.encode(ciphertext)});
        let r: PlaintextResponse = call(self, "AsymmetricSm2Decrypt", params)?;
        decode_secret(&r.plaintext, "AsymmetricSm2Decrypt")
    }

    fn describe_key(&self, key_id: &str) -> Result<KeyMetadata, KmsError> {
        let r: DescribeKeyResponse = call(self, "DescribeKey", json!({"KeyId": key_id}))?;
        Ok(r.key_metadata)
    }

    fn find_key(&self, name: &str) -> Result<Option<KeyMetadata>, KmsError> {
        if is_key_id(name) {
            return self.describe_key(name).map(Some);
        }
        let alias = alias_of(name);
        let filter = KeyFilter {
            search: Some(alias),
            ..KeyFilter::default()
        };
        let (mut found, mut pages) = (None, 0);
        let listed = list_key_pages(self, &filter, |page| {
            found = page.into_iter().find(|k| k.alias == alias);
            pages += 1;
            if found.is_some() || pages == MAX_LIST_PAGES {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match listed {
            Ok(()) => {}
            // A backend without ListKeyDetail may still take the alias where a KeyId goes.
            Err(e) if e.code == "InvalidAction" || e.code.starts_with("UnsupportedOperation") => {
                return self.describe_key(name).map(Some);
            }
            Err(e) => return Err(e),
        }
        found.map(|k| self.describe_key(&k.key_id)).transpose()
    }
}
