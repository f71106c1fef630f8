//! The transport-free API surface of the mock: one Tencent Cloud KMS action call in, its JSON
//! response (or a Tencent error) out. The HTTP server and the in-process client both go through
//! [`KmsApi::dispatch`], so they behave identically.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::cam::KeyResource;
use crate::clock::MockClock;

/// Who is calling, from where, in which region: everything about a call that is not its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The calling account's uin (keys are isolated per account).
    pub account_uin: u64,
    /// The caller's identity within the account (the SecretId's owner, e.g. `root` or a sub-user).
    pub identity: String,
    /// The region the call addresses (`X-TC-Region`, or the server's default).
    pub region: String,
    /// The request id echoed in the response (`RequestId`), a UUID string.
    pub request_id: String,
    /// The caller's address, when the call came over the network.
    pub source_ip: Option<IpAddr>,
}

/// A Tencent Cloud API error: a dotted code such as `ResourceUnavailable.CmkDisabled` and a
/// message. Messages never contain key material or plaintext.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Tencent error code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The Tencent Cloud KMS API (version 2019-01-18), transport-free.
pub trait KmsApi: Send + Sync {
    /// Runs `action` with `params` (the JSON object of the request fields, as in a TC3 POST body).
    ///
    /// On success returns the JSON object that goes inside `{"Response": ...}`, including
    /// `"RequestId": ctx.request_id`. On failure returns the Tencent error; the caller renders
    /// `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`.
    fn dispatch(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ApiError>;

    /// Runs `action` if `admit` lets it: the access decision (CAM) and the audit trail see what
    /// the call names before it runs, read from the same parse the call then runs on. `admit`
    /// may refuse the call (nothing changes) or move it into the named keys' account by
    /// changing the context.
    ///
    /// Default: reads the targets on their own, asks `admit`, then [`KmsApi::dispatch`].
    fn dispatch_admitted(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &[u8],
        admit: &mut Admit<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let mut ctx = ctx.clone();
        admit_lenient(self, action, params, admit, &mut ctx)?;
        self.dispatch(&ctx, action, params)
    }

    /// Runs due schedules (automatic rotation, expired deletion windows). The server calls it
    /// periodically and right after a test control moves the clock. Default: nothing to do.
    fn tick(&self) {}

    /// The mock clock behind key schedules, when the backend has one the test controls may move.
    fn mock_clock(&self) -> Option<&MockClock> {
        None
    }

    /// The owner, region and tags of a key, looked up by id alone (key ids are unique across
    /// accounts), so access can be decided before the call runs. Read-only. Default: unknown.
    fn key_resource(&self, key_id: &str) -> Option<Arc<KeyResource>> {
        let _ = key_id;
        None
    }

    /// Forgets every key and alias (test control `POST /_tkms/reset`). Default: unsupported.
    fn reset(&self) -> Result<(), ApiError> {
        Err(ApiError::new(
            "UnsupportedOperation",
            "this backend cannot be reset",
        ))
    }
}

/// Asks `admit` about the keys a lenient read of `params` finds: for backends without a typed
/// parse, and for calls whose typed parse failed (access is still decided first, so a caller
/// without access learns nothing about its parameters).
pub(crate) fn admit_lenient<A: KmsApi + ?Sized>(
    api: &A,
    action: &str,
    params: &[u8],
    admit: &mut Admit<'_>,
    ctx: &mut CallContext,
) -> Result<(), ApiError> {
    let targets = CallTargets::read(action, params);
    admit(
        Admission {
            targets: targets.as_ref().map_err(Clone::clone),
            lookup: &|key_id| api.key_resource(key_id),
        },
        ctx,
    )
}

/// The access decision and audit hook of [`KmsApi::dispatch_admitted`].
pub type Admit<'a> = dyn FnMut(Admission<'_>, &mut CallContext) -> Result<(), ApiError> + 'a;

/// What the access decision sees of a call before it runs.
pub struct Admission<'a> {
    /// What the call names, or why its parameters could not be read.
    pub targets: Result<&'a CallTargets, ApiError>,
    /// A named key's owner, region and tags (`None`: unknown key).
    pub lookup: &'a dyn Fn(&str) -> Option<Arc<KeyResource>>,
}

impl std::fmt::Debug for Admission<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

/// What a call touches: its key ids in request order (`Decrypt` and `ReEncrypt` name theirs
/// inside the CiphertextBlob) and its EncryptionContext.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallTargets {
    /// Key ids: KeyId, KeyIds, the blob's key, DestinationKeyId.
    pub key_ids: Vec<String>,
    /// The EncryptionContext field, as sent.
    pub encryption_context: Option<String>,
}

impl CallTargets {
    /// Reads only the fields that name keys, whatever the action (the plaintext field is
    /// skipped, never materialised): for calls whose typed parameters do not parse, so access is
    /// still decided on what they name.
    pub(crate) fn read(action: &str, params: &[u8]) -> Result<Self, ApiError> {
        /// The request fields that name keys.
        #[derive(Deserialize, Default)]
        struct Fields<'a> {
            #[serde(rename = "KeyId", borrow, default)]
            key_id: Option<Cow<'a, str>>,
            #[serde(rename = "KeyIds", default)]
            key_ids: Option<Vec<String>>,
            #[serde(rename = "DestinationKeyId", borrow, default)]
            destination_key_id: Option<Cow<'a, str>>,
            #[serde(rename = "CiphertextBlob", borrow, default)]
            ciphertext_blob: Option<Cow<'a, str>>,
            #[serde(rename = "EncryptionContext", borrow, default)]
            encryption_context: Option<Cow<'a, str>>,
        }
        let fields: Fields<'_> = serde_json::from_slice(params).map_err(|e| {
            ApiError::new(
                "InvalidParameter",
                format!("The request parameters are not a valid JSON object: {e}"),
            )
        })?;
        let mut key_ids = Vec::new();
        if let Some(id) = fields.key_id {
            key_ids.push(id.into_owned());
        }
        key_ids.extend(fields.key_ids.unwrap_or_default());
        if matches!(action, "Decrypt" | "ReEncrypt" | "PostQuantumCryptoDecrypt")
            && let Some(blob) = &fields.ciphertext_blob
            && let Some(blob) = crate::blob::parse(blob)
        {
            key_ids.push(blob.key_id);
        }
        if let Some(id) = fields.destination_key_id {
            key_ids.push(id.into_owned());
        }
        Ok(Self {
            key_ids,
            encryption_context: fields.encryption_context.map(Cow::into_owned),
        })
    }
}
