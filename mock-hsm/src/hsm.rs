//! The HSM core: CMKs, their states, versions and schedules, and every KMS operation on them,
//! typed and transport-free. `dispatch` maps the JSON API onto these methods.
//!
//! Choices where the Tencent documentation is silent ([choice] in docs/kms-api.md), each tested:
//! - A key is found by (account uin, region, KeyId); a key of another account or region is
//!   `ResourceUnavailable.CmkNotFound`.
//! - Scheduled rotation that is overdue is caught up **once** when the key is next touched (or by
//!   [`Hsm::run_due_rotations`]): one new version, `LastRotateTime = now`,
//!   `NextRotateTime = now + RotateDays`, so the next rotation is always in the future.
//! - Only Enabled keys rotate on schedule; a Disabled key catches up after it is re-enabled.
//! - `EnableKeyRotation` on a key whose anchor + RotateDays is already past schedules the next
//!   rotation at now + RotateDays rather than rotating at once.
//! - `RotateKey` needs rotation enabled, and allows one rotation per 24 h (any rotation counts).
//! - An absent or empty `EncryptionContext` is the empty context; `{}` is the same.
//! - Decrypt of a PendingDelete or PendingImport key is `ResourceUnavailable.CmkStateNotSupport`.

mod access;
mod asymmetric;
mod bindings;
mod byok;
mod config;
mod datakeys;
mod error;
mod info;
mod lifecycle;
mod pqc;
mod rotation;
mod rules;
mod symmetric;
mod types;
mod whitebox;

use std::sync::Arc;

pub use config::{HsmConfig, SM_REGIONS, SymmetricPolicy, check_region_name};
pub(crate) use datakeys::{DataKeyFilter, DataKeyInfo, Imported, NewDataKey};
pub(crate) use error::{HsmError, state_refusal};
pub use info::REGIONS;
pub(crate) use lifecycle::{KeyFilter, KeyInfo, NewKey};
pub(crate) use rules::{check_alias, is_valid_key_id};
pub use types::key_usage_names;
pub(crate) use types::{Accept, KeyState, KeyUsage, Origin};
pub(crate) use whitebox::{
    CbcKey, Fingerprint, NewWhiteBoxKey, WhiteBoxError, WhiteBoxFilter, WhiteBoxKey, WhiteBoxStatus,
};

use crate::api::{ApiError, CallContext};
use crate::clock::{Clock, MockClock};
use crate::store::{OpenError, Store};

const DAY: u64 = 86_400;

/// What [`Hsm::run_due_rotations`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Keys rotated.
    pub rotated: usize,
    /// Keys destroyed because their deletion date passed.
    pub destroyed: usize,
    /// Imported keys whose material expired (back to PendingImport).
    pub expired: usize,
    /// Hosted data keys destroyed because their deletion date passed.
    pub data_keys_destroyed: usize,
}

/// The mock HSM: a durable key store and the Tencent Cloud KMS semantics on top. Share it with
/// `Arc`; every method takes `&self`.
pub struct Hsm {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    mock_clock: Option<Arc<MockClock>>,
    pub(crate) default_region: String,
    /// Every region a call may name ([`Hsm::regions`]).
    regions: Vec<String>,
    pub(crate) symmetric: SymmetricPolicy,
    pub(crate) data_key_limit: u64,
    /// [`Hsm::key_resource`] answers: a key's owner, region and tags never change while it
    /// exists (no KMS action edits tags), so each is read once; cleared by `reset`.
    resources: std::sync::Mutex<std::collections::HashMap<String, Arc<crate::KeyResource>>>,
}

impl core::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hsm")
            .field("path", &self.store.path())
            .field("default_region", &self.default_region)
            .finish()
    }
}

/// The account and region a call acts in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    pub(crate) uin: u64,
    pub(crate) region: &'a str,
}

/// Most key resources [`Hsm::key_resource`] remembers before starting over.
const KEY_RESOURCE_CACHE: usize = 65_536;

impl Hsm {
    /// Opens (creating if needed) the store, applies due deletions, and is ready for calls.
    pub fn open(config: HsmConfig) -> Result<Self, OpenError> {
        let store = Store::open(&config.storage, &config.root_key)?;
        let hsm = Self {
            store,
            clock: config.clock.clone(),
            mock_clock: config.mock_clock.clone(),
            default_region: config.default_region.clone(),
            regions: info::region_list(&config.default_region, &config.extra_regions),
            symmetric: config.symmetric,
            data_key_limit: config.data_key_limit,
            resources: std::sync::Mutex::new(std::collections::HashMap::new()),
        };
        if let Some(seed) = &config.seed_file {
            hsm.apply_seed_file(seed)?;
        }
        hsm.run_due_rotations()
            .map_err(|e| OpenError::Database(e.message))?;
        Ok(hsm)
    }

    /// The mock clock, when the HSM was opened with one.
    pub fn mock_clock(&self) -> Option<&Arc<MockClock>> {
        self.mock_clock.as_ref()
    }

    /// The region used when a call names none.
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// Now, from the clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The key database file, when the store is on disk (the audit trail shares it).
    pub fn database_path(&self) -> Option<&std::path::Path> {
        self.store.path()
    }

    /// A key's owner, region and tags, by id alone (ids are unique across accounts): what
    /// CAM needs to decide a call before it runs. A CMK or a white-box key (docs/whitebox.md).
    /// `None` for an unknown or malformed id.
    pub fn key_resource(&self, key_id: &str) -> Option<Arc<crate::KeyResource>> {
        if !is_valid_key_id(key_id) {
            return None;
        }
        let cache = || {
            self.resources
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(known) = cache().get(key_id) {
            return Some(Arc::clone(known));
        }
        let found = self
            .store
            .read(|tx| {
                let Some(row) = tx.key_by_id(key_id)? else {
                    return Ok::<_, rusqlite::Error>(
                        Self::whitebox_resource(tx, key_id)?.map(Arc::new),
                    );
                };
                Ok(Some(Arc::new(crate::KeyResource {
                    key_id: Some(row.key_id.clone()),
                    region: row.region,
                    owner_uin: row.account_uin,
                    tags: tx.tags(&row.key_id)?,
                })))
            })
            .ok()
            .flatten()?;
        let mut cache = cache();
        if cache.len() >= KEY_RESOURCE_CACHE {
            cache.clear();
        }
        cache.insert(key_id.to_owned(), Arc::clone(&found));
        Some(found)
    }

    /// Deletes every key, version, tag, import token and white-box key (the server's test
    /// controls).
    pub fn reset(&self) -> Result<(), ApiError> {
        self.store
            .write(|tx| tx.wipe().and_then(|()| tx.wipe_whitebox()))
            .map_err(|e| ApiError::from(HsmError::from(e)))?;
        self.store.clear_cache();
        // Seeds may bring the same key ids back with other tags.
        self.resources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        Ok(())
    }

    /// Applies every due schedule with no traffic needed: rotations, deletions whose window
    /// passed, imported material past its ValidTo. Call it from a timer.
    pub fn run_due_rotations(&self) -> Result<Maintenance, ApiError> {
        self.maintain_all().map_err(ApiError::from)
    }

    pub(crate) fn scope<'a>(&'a self, ctx: &'a CallContext) -> Scope<'a> {
        let region = if ctx.region.is_empty() {
            self.default_region.as_str()
        } else {
            ctx.region.as_str()
        };
        Scope {
            uin: ctx.account_uin,
            region,
        }
    }
}
