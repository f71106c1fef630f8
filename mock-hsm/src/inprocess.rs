//! The in-process transport: kms-core's [`KmsTransport`] straight onto an [`Hsm`], so a Rust
//! application tests against the mock with no server and `KmsClient` works unchanged.

use std::sync::Arc;

use kms_core::kms::{KmsError, KmsTransport};
use zeroize::Zeroizing;

use crate::api::{CallContext, KmsApi};
use crate::hsm::Hsm;

/// Account uin used by [`InProcess::new`].
pub const DEFAULT_ACCOUNT_UIN: u64 = 100_000_000_001;

/// An [`Hsm`] seen as one caller (account, identity, region). Each call gets a fresh RequestId.
#[derive(Clone, Debug)]
pub struct InProcess {
    hsm: Arc<Hsm>,
    context: CallContext,
}

impl InProcess {
    /// The HSM as the default account in its default region.
    pub fn new(hsm: Arc<Hsm>) -> Self {
        let region = hsm.default_region().to_owned();
        Self::with_context(
            hsm,
            CallContext {
                account_uin: DEFAULT_ACCOUNT_UIN,
                identity: "root".into(),
                region,
                request_id: String::new(),
                source_ip: None,
            },
        )
    }

    /// The HSM as the caller in `context` (its `request_id` is replaced on every call).
    pub fn with_context(hsm: Arc<Hsm>, context: CallContext) -> Self {
        Self { hsm, context }
    }

    /// The same HSM in another region.
    pub fn in_region(&self, region: impl Into<String>) -> Self {
        let mut context = self.context.clone();
        context.region = region.into();
        Self {
            hsm: self.hsm.clone(),
            context,
        }
    }

    /// The same HSM as another account.
    pub fn as_account(&self, account_uin: u64) -> Self {
        let mut context = self.context.clone();
        context.account_uin = account_uin;
        Self {
            hsm: self.hsm.clone(),
            context,
        }
    }

    /// The HSM behind this transport.
    pub fn hsm(&self) -> &Arc<Hsm> {
        &self.hsm
    }
}

impl KmsTransport for InProcess {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let mut context = self.context.clone();
        context.request_id = uuid::Uuid::new_v4().to_string();
        self.hsm
            .dispatch(&context, action, params)
            .map_err(|e| KmsError {
                code: e.code,
                message: e.message,
                request_id: Some(context.request_id),
            })
    }
}
