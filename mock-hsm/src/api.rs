//! The transport-free API surface of the mock: one Tencent Cloud KMS action call in, its JSON
//! response (or a Tencent error) out. The HTTP server and the in-process client both go through
//! [`KmsApi::dispatch`], so they behave identically.

use std::net::IpAddr;

use zeroize::Zeroizing;

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

    /// Runs due schedules (automatic rotation, expired deletion windows). The server calls it
    /// periodically and right after a test control moves the clock. Default: nothing to do.
    fn tick(&self) {}

    /// The mock clock behind key schedules, when the backend has one the test controls may move.
    fn mock_clock(&self) -> Option<&MockClock> {
        None
    }

    /// The owner, region and tags of a key, looked up by id alone (key ids are unique across
    /// accounts), so access can be decided before the call runs. Read-only. Default: unknown.
    fn key_resource(&self, key_id: &str) -> Option<std::sync::Arc<crate::KeyResource>> {
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
