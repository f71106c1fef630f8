//! The HSM core: CMKs, their states, versions and schedules, and every KMS operation on them,
//! typed and transport-free. `dispatch` maps the JSON API onto these methods.
//!
//! Choices where the Tencent documentation is silent ([I] in the reference), each tested:
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

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

mod error;
mod types;

pub(crate) use error::{CryptoUse, HsmError};
pub(crate) use types::{Accept, KeyState, KeyUsage, Origin};

use crate::api::{ApiError, CallContext};
use crate::blob;
use crate::clock::{Clock, MockClock, SystemClock};
use crate::material::{
    Algorithm, Material, ParsedKey, RsaPadding, SealAlgorithm, SealError, SignAlgorithm, SignInput,
    random_bytes, random_nonce, seal_to_public_key,
};
use crate::store::{HotKey, KeyRow, OpenError, RootKeySource, Storage, Store, Tx};

const DAY: u64 = 86_400;
/// Most bytes Encrypt takes.
pub(crate) const MAX_PLAINTEXT: usize = 4096;
/// Most characters of an EncryptionContext.
pub(crate) const MAX_CONTEXT_CHARS: usize = 1024;
/// Import tokens and wrapping keys are valid this long.
const IMPORT_TOKEN_LIFETIME: u64 = DAY;
/// Largest ImportKeyMaterial ValidTo.
const MAX_VALID_TO: u64 = 2_147_443_200;

/// Mainland-China regions, whose symmetric CMKs are SM4 (KeyMetadata.Type 4) by default.
pub const SM_REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-nanjing",
    "ap-shenzhen-fsi",
    "ap-shanghai-fsi",
    "ap-beijing-fsi",
];

/// Regions GetRegions reports.
pub(crate) const REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-nanjing",
    "ap-hongkong",
    "ap-singapore",
    "ap-bangkok",
    "ap-jakarta",
    "ap-seoul",
    "ap-tokyo",
    "ap-mumbai",
    "na-siliconvalley",
    "na-ashburn",
    "eu-frankfurt",
    "sa-saopaulo",
];

/// Which symmetric algorithm new ENCRYPT_DECRYPT CMKs get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SymmetricPolicy {
    /// SM4 in [`SM_REGIONS`], AES-256 elsewhere (the default).
    #[default]
    ByRegion,
    /// Always AES-256.
    AlwaysAes256,
    /// Always SM4.
    AlwaysSm4,
}

impl SymmetricPolicy {
    pub(crate) fn algorithm_for(self, region: &str) -> Algorithm {
        match self {
            Self::AlwaysAes256 => Algorithm::Aes256,
            Self::AlwaysSm4 => Algorithm::Sm4,
            Self::ByRegion if SM_REGIONS.contains(&region) => Algorithm::Sm4,
            Self::ByRegion => Algorithm::Aes256,
        }
    }
}

/// How to open an [`Hsm`].
#[derive(Clone)]
pub struct HsmConfig {
    /// Data directory or memory.
    pub storage: Storage,
    /// The storage root key.
    pub root_key: RootKeySource,
    /// The source of time.
    pub clock: Arc<dyn Clock>,
    /// The same clock when it is a [`MockClock`] (test controls move it).
    pub mock_clock: Option<Arc<MockClock>>,
    /// Region used when a call names none.
    pub default_region: String,
    /// Symmetric algorithm choice.
    pub symmetric: SymmetricPolicy,
    /// A seed file applied at open (existing keys are never overwritten).
    pub seed_file: Option<std::path::PathBuf>,
}

impl core::fmt::Debug for HsmConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HsmConfig")
            .field("storage", &self.storage)
            .field("root_key", &self.root_key)
            .field("mock_clock", &self.mock_clock.is_some())
            .field("default_region", &self.default_region)
            .field("symmetric", &self.symmetric)
            .field("seed_file", &self.seed_file)
            .finish()
    }
}

impl HsmConfig {
    /// A store in `dir`, wall clock, region ap-guangzhou.
    pub fn directory(dir: impl Into<std::path::PathBuf>) -> Self {
        Self::new(Storage::Directory(dir.into()))
    }

    /// An in-memory store, wall clock, region ap-guangzhou.
    pub fn in_memory() -> Self {
        Self::new(Storage::InMemory)
    }

    fn new(storage: Storage) -> Self {
        Self {
            storage,
            root_key: RootKeySource::Default,
            clock: Arc::new(SystemClock),
            mock_clock: None,
            default_region: "ap-guangzhou".into(),
            symmetric: SymmetricPolicy::ByRegion,
            seed_file: None,
        }
    }

    /// Applies this seed file at open.
    pub fn with_seed_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.seed_file = Some(path.into());
        self
    }

    /// Uses a fresh [`MockClock`] (reachable through [`Hsm::mock_clock`]).
    pub fn with_mock_clock(mut self) -> Self {
        let clock = Arc::new(MockClock::new());
        self.clock = clock.clone();
        self.mock_clock = Some(clock);
        self
    }

    /// Sets the default region.
    pub fn with_default_region(mut self, region: impl Into<String>) -> Self {
        self.default_region = region.into();
        self
    }

    /// Sets the symmetric algorithm policy.
    pub fn with_symmetric(mut self, policy: SymmetricPolicy) -> Self {
        self.symmetric = policy;
        self
    }

    /// Sets the root key source.
    pub fn with_root_key(mut self, source: RootKeySource) -> Self {
        self.root_key = source;
        self
    }
}

/// What [`Hsm::run_due_rotations`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Keys rotated.
    pub rotated: usize,
    /// Keys destroyed because their deletion date passed.
    pub destroyed: usize,
    /// Imported keys whose material expired (back to PendingImport).
    pub expired: usize,
}

/// The mock HSM: a durable key store and the Tencent Cloud KMS semantics on top. Share it with
/// `Arc`; every method takes `&self`.
pub struct Hsm {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    mock_clock: Option<Arc<MockClock>>,
    pub(crate) default_region: String,
    pub(crate) symmetric: SymmetricPolicy,
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

/// True for a KeyId in the 8-4-4-4-12 lower-case hex UUID form.
pub(crate) fn is_valid_key_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fn check_key_id(id: &str) -> Result<(), HsmError> {
    if is_valid_key_id(id) {
        Ok(())
    } else {
        Err(HsmError::InvalidKeyId)
    }
}

/// Alias rules: 1-60 of letters, digits, `-`, `_`; first a letter or digit; `kms-` reserved.
pub(crate) fn check_alias(alias: &str) -> Result<(), HsmError> {
    let ok = (1..=60).contains(&alias.len())
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && alias.as_bytes()[0].is_ascii_alphanumeric()
        && !alias.to_ascii_lowercase().starts_with("kms-");
    if ok {
        Ok(())
    } else {
        Err(HsmError::InvalidAlias)
    }
}

fn check_description(description: &str) -> Result<(), HsmError> {
    if description.len() > 1024 {
        return Err(HsmError::InvalidParameter(
            "Description is longer than 1024 bytes".into(),
        ));
    }
    Ok(())
}

fn not_found(id: &str) -> HsmError {
    HsmError::NotFound(id.to_owned())
}

/// BYOK actions apply only to keys created for imported material, in state Enabled or
/// PendingImport.
fn require_importable(row: &KeyRow) -> Result<(), HsmError> {
    if row.origin != Origin::External {
        return Err(HsmError::NotExternal(row.key_id.clone()));
    }
    if ![KeyState::Enabled, KeyState::PendingImport].contains(&row.key_state) {
        return Err(state_not_supported(row));
    }
    Ok(())
}

fn state_not_supported(row: &KeyRow) -> HsmError {
    HsmError::state(&row.key_id, row.key_state)
}

/// Parses an EncryptionContext (a JSON object of strings) into its canonical AAD bytes
/// (kms_core::EncryptionContext): key order and whitespace do not matter, `{"ab":"c"}` and
/// `{"a":"bc"}` differ.
pub(crate) fn canonical_context(context: Option<&str>) -> Result<Vec<u8>, HsmError> {
    let text = context.unwrap_or("");
    let invalid = |message: String| HsmError::InvalidParameterValue(message);
    if text.chars().count() > MAX_CONTEXT_CHARS {
        return Err(invalid(
            "EncryptionContext is longer than 1024 characters".into(),
        ));
    }
    let mut ctx = kms_core::EncryptionContext::new();
    if !text.trim().is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).map_err(|_| {
            invalid("EncryptionContext must be a JSON object of string values, e.g. {\"purpose\":\"test\"}".into())
        })?;
        for (k, v) in map {
            let serde_json::Value::String(v) = v else {
                return Err(invalid(format!(
                    "EncryptionContext value of \"{k}\" must be a string"
                )));
            };
            ctx.insert(k, v);
        }
    }
    ctx.to_canonical_bytes()
        .map_err(|e| invalid(format!("EncryptionContext: {e}")))
}

/// A CMK with its tags (DescribeKey and friends).
#[derive(Clone, Debug)]
pub(crate) struct KeyInfo {
    pub(crate) row: KeyRow,
    pub(crate) tags: Vec<(String, String)>,
}

/// Input of CreateKey.
#[derive(Debug)]
pub(crate) struct NewKey {
    pub(crate) alias: String,
    pub(crate) description: String,
    pub(crate) key_usage: KeyUsage,
    pub(crate) external: bool,
    pub(crate) tags: Vec<(String, String)>,
}

/// Filters of ListKeyDetail.
#[derive(Debug, Default)]
pub(crate) struct KeyFilter {
    pub(crate) key_state: Accept<KeyState>,
    pub(crate) search: Option<String>,
    pub(crate) origin: Accept<Origin>,
    pub(crate) key_usage: Accept<KeyUsage>,
    pub(crate) tag_filters: Vec<(String, Vec<String>)>,
    pub(crate) ascending: bool,
}

/// Result of Decrypt / ReEncrypt's source half.
pub(crate) struct Opened {
    pub(crate) key_id: String,
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
}

/// Result of GetParametersForImport.
pub(crate) struct ImportParameters {
    pub(crate) token: String,
    pub(crate) public_key_der: Vec<u8>,
    pub(crate) valid_to: u64,
}

/// Result of ReEncrypt.
pub(crate) struct ReEncrypted {
    pub(crate) blob: String,
    pub(crate) key_id: String,
    pub(crate) source_key_id: String,
    pub(crate) re_encrypted: bool,
}

impl Hsm {
    /// Opens (creating if needed) the store, applies due deletions, and is ready for calls.
    pub fn open(config: HsmConfig) -> Result<Self, OpenError> {
        let store = Store::open(&config.storage, &config.root_key)?;
        let hsm = Self {
            store,
            clock: config.clock.clone(),
            mock_clock: config.mock_clock.clone(),
            default_region: config.default_region.clone(),
            symmetric: config.symmetric,
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
    /// CAM needs to decide a call before it runs. `None` for an unknown or malformed id.
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
                    return Ok::<_, rusqlite::Error>(None);
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

    /// Deletes every key, version, tag and import token (the server's test controls).
    pub fn reset(&self) -> Result<(), ApiError> {
        self.store
            .write(|tx| tx.wipe())
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

    fn maintain_all(&self) -> Result<Maintenance, HsmError> {
        let now = self.now();
        self.store.write(|tx| {
            let mut done = Maintenance::default();
            for row in tx.keys_needing_maintenance(now)? {
                let before = row.clone();
                match self.maintain(tx, row, now)? {
                    None => done.destroyed += 1,
                    Some(after) if after.current_version != before.current_version => {
                        done.rotated += 1
                    }
                    Some(after) if after.key_state != before.key_state => done.expired += 1,
                    Some(_) => {}
                }
            }
            tx.delete_expired_tokens(now)?;
            Ok::<_, HsmError>(done)
        })
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

    fn needs_maintenance(row: &KeyRow, now: u64) -> bool {
        (row.key_state == KeyState::PendingDelete && row.deletion_date <= now)
            || (row.key_state == KeyState::Enabled
                && row.rotation_enabled
                && row.next_rotate_time <= now
                && can_rotate(row))
            || (row.key_state == KeyState::Enabled && row.valid_to > 0 && row.valid_to <= now)
    }

    /// Applies due schedules to one key; `None` when it was destroyed.
    fn maintain(&self, tx: &Tx<'_>, mut row: KeyRow, now: u64) -> Result<Option<KeyRow>, HsmError> {
        if row.key_state == KeyState::PendingDelete && row.deletion_date <= now {
            tx.delete_key(&row.key_id)?;
            return Ok(None);
        }
        if row.key_state == KeyState::Enabled
            && row.valid_to > 0
            && row.valid_to <= now
            && row.origin == Origin::External
        {
            // Imported material expired: it is deleted, the key waits for a new import.
            tx.delete_versions(&row.key_id)?;
            row.key_state = KeyState::PendingImport;
            row.valid_to = 0;
            tx.update_key(&row)?;
        }
        if row.key_state == KeyState::Enabled
            && row.rotation_enabled
            && row.next_rotate_time <= now
            && can_rotate(&row)
        {
            self.rotate(tx, &mut row, now)?;
        }
        Ok(Some(row))
    }

    /// Adds a new version (stored before anything can use it) and moves the schedule on.
    fn rotate(&self, tx: &Tx<'_>, row: &mut KeyRow, now: u64) -> Result<(), HsmError> {
        let material =
            Material::generate(row.algorithm).map_err(|_| HsmError::Internal("key generation"))?;
        let version = row.current_version + 1;
        tx.insert_version(&row.key_id, version, now, &material)?;
        row.current_version = version;
        row.last_rotate_time = now;
        row.next_rotate_time = now + row.rotate_days * DAY;
        tx.update_key(row)?;
        Ok(())
    }

    /// Loads a key for reading, applying due schedules first (in their own write transaction).
    fn load(&self, tx: &Tx<'_>, scope: Scope<'_>, key_id: &str) -> Result<KeyRow, HsmError> {
        check_key_id(key_id)?;
        tx.key(scope.uin, scope.region, key_id)?
            .ok_or_else(|| not_found(key_id))
    }

    /// Runs `f` on a key in a read transaction, after catching up its schedules.
    ///
    /// The common case (nothing due) is one read transaction: `f` sees the same snapshot as the
    /// schedule check. Only a key with due schedules takes a write transaction first.
    fn with_key<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        f: impl FnOnce(&Tx<'_>, &KeyRow) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        check_key_id(key_id)?;
        let now = self.now();
        let mut f = Some(f);
        let done = self.store.read(|tx| {
            let row = tx
                .key(scope.uin, scope.region, key_id)?
                .ok_or_else(|| not_found(key_id))?;
            if Self::needs_maintenance(&row, now) {
                return Ok(None);
            }
            let f = f.take().expect("f runs at most once");
            f(tx, &row).map(Some)
        })?;
        if let Some(out) = done {
            return Ok(out);
        }
        self.store
            .write(|tx| match tx.key(scope.uin, scope.region, key_id)? {
                Some(row) if Self::needs_maintenance(&row, now) => {
                    self.maintain(tx, row, now).map(|_| ())
                }
                _ => Ok(()),
            })?;
        let f = f.take().expect("f did not run in the first transaction");
        self.store.read(|tx| {
            let row = tx
                .key(scope.uin, scope.region, key_id)?
                .ok_or_else(|| not_found(key_id))?;
            f(tx, &row)
        })
    }

    /// Runs `f` on a symmetric key with its current version and `also` ready (Encrypt, Decrypt,
    /// GenerateDataKey, ReEncrypt): from the store's in-memory cache when nothing is due, else
    /// through [`Hsm::with_key`], which applies the schedules first. `f` sees asymmetric keys too
    /// (with no versions), so it reports a wrong key usage the same way on both paths.
    fn with_hot_key<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        also: Option<u32>,
        f: impl FnOnce(&HotKey) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        check_key_id(key_id)?;
        if let Some(key) = self.store.hot_key(scope.uin, scope.region, key_id, also)?
            && !Self::needs_maintenance(&key.row, self.now())
        {
            return f(&key);
        }
        self.with_key(scope, key_id, |tx, row| {
            f(&HotKey::load(tx, row.clone(), also)?)
        })
    }

    /// Runs `f` on a key in one write transaction (after due schedules) and stores the row.
    fn mutate<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        f: impl FnOnce(&Tx<'_>, &mut KeyRow, u64) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        check_key_id(key_id)?;
        let now = self.now();
        self.store.write(|tx| {
            let row = self.load(tx, scope, key_id)?;
            let mut row = self
                .maintain(tx, row, now)?
                .ok_or_else(|| not_found(key_id))?;
            let out = f(tx, &mut row, now)?;
            tx.update_key(&row)?;
            Ok(out)
        })
    }

    // ---- Key management ----

    pub(crate) fn create_key(&self, scope: Scope<'_>, new: NewKey) -> Result<KeyRow, HsmError> {
        check_alias(&new.alias)?;
        check_description(&new.description)?;
        let usage = new.key_usage;
        let algorithm = usage
            .fixed_algorithm()
            .unwrap_or_else(|| self.symmetric.algorithm_for(scope.region));
        if new.external && usage != KeyUsage::EncryptDecrypt {
            return Err(HsmError::ImportNeedsSymmetric);
        }
        check_tags(&new.tags)?;
        let now = self.now();
        let key_id = uuid::Uuid::new_v4().to_string();
        let row = KeyRow {
            key_id,
            account_uin: scope.uin,
            region: scope.region.into(),
            alias: new.alias,
            description: new.description,
            key_usage: usage,
            algorithm,
            origin: if new.external {
                Origin::External
            } else {
                Origin::TencentKms
            },
            key_state: if new.external {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            create_time: now,
            deletion_date: 0,
            valid_to: 0,
            rotation_enabled: false,
            rotate_days: 365,
            last_rotate_time: 0,
            next_rotate_time: now + 365 * DAY,
            current_version: if new.external { 0 } else { 1 },
            import_fingerprint: None,
        };
        let material = if new.external {
            None
        } else {
            Some(Material::generate(algorithm).map_err(|_| HsmError::Internal("key generation"))?)
        };
        self.store.write(|tx| {
            if tx.alias_taken(scope.uin, scope.region, &row.alias, "")? {
                return Err(HsmError::AliasExists(row.alias.clone()));
            }
            tx.insert_key(&row)?;
            if let Some(material) = &material {
                tx.insert_version(&row.key_id, 1, now, material)?;
            }
            for (k, v) in &new.tags {
                tx.insert_tag(&row.key_id, k, v)?;
            }
            Ok(())
        })?;
        Ok(row)
    }

    pub(crate) fn describe_key(&self, scope: Scope<'_>, key_id: &str) -> Result<KeyInfo, HsmError> {
        self.with_key(scope, key_id, |tx, row| {
            Ok(KeyInfo {
                row: row.clone(),
                tags: tx.tags(&row.key_id)?,
            })
        })
    }

    pub(crate) fn describe_keys(
        &self,
        scope: Scope<'_>,
        key_ids: &[String],
    ) -> Result<Vec<KeyInfo>, HsmError> {
        check_id_list(key_ids)?;
        key_ids
            .iter()
            .map(|id| self.describe_key(scope, id))
            .collect()
    }

    /// Keys in the scope, after applying due schedules, filtered; ordered by creation.
    pub(crate) fn list_keys(
        &self,
        scope: Scope<'_>,
        filter: &KeyFilter,
    ) -> Result<Vec<KeyInfo>, HsmError> {
        self.maintain_all()?;
        let mut keys = self.store.read(|tx| {
            let mut out = Vec::new();
            for row in tx.keys_in_scope(scope.uin, scope.region)? {
                let tags = tx.tags(&row.key_id)?;
                out.push(KeyInfo { row, tags });
            }
            Ok::<_, HsmError>(out)
        })?;
        keys.retain(|k| filter.matches(k));
        if !filter.ascending {
            keys.reverse();
        }
        Ok(keys)
    }

    pub(crate) fn update_alias(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        alias: &str,
    ) -> Result<(), HsmError> {
        check_alias(alias)?;
        self.mutate(scope, key_id, |tx, row, _| {
            if row.key_state == KeyState::PendingDelete {
                return Err(state_not_supported(row));
            }
            if tx.alias_taken(scope.uin, scope.region, alias, &row.key_id)? {
                return Err(HsmError::AliasExists(alias.to_owned()));
            }
            row.alias = alias.into();
            Ok(())
        })
    }

    pub(crate) fn update_description(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        description: &str,
    ) -> Result<(), HsmError> {
        check_description(description)?;
        self.mutate(scope, key_id, |_, row, _| {
            if row.key_state == KeyState::PendingDelete {
                return Err(state_not_supported(row));
            }
            row.description = description.into();
            Ok(())
        })
    }

    /// EnableKey(s) / DisableKey(s): all keys or none, in one transaction.
    pub(crate) fn set_enabled(
        &self,
        scope: Scope<'_>,
        key_ids: &[String],
        enable: bool,
    ) -> Result<(), HsmError> {
        check_id_list(key_ids)?;
        for id in key_ids {
            check_key_id(id)?;
        }
        let now = self.now();
        self.store.write(|tx| {
            for id in key_ids {
                let row = self.load(tx, scope, id)?;
                let mut row = self.maintain(tx, row, now)?.ok_or_else(|| not_found(id))?;
                match (row.key_state, enable) {
                    (KeyState::Enabled, true) | (KeyState::Disabled, false) => {} // repeats are accepted silently
                    (KeyState::Disabled, true) => row.key_state = KeyState::Enabled,
                    (KeyState::Enabled, false) => row.key_state = KeyState::Disabled,
                    _ => return Err(state_not_supported(&row)),
                }
                tx.update_key(&row)?;
            }
            Ok(())
        })
    }

    pub(crate) fn schedule_deletion(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        days: u64,
    ) -> Result<u64, HsmError> {
        if !(7..=30).contains(&days) {
            return Err(HsmError::InvalidPendingWindow);
        }
        self.mutate(scope, key_id, |_, row, now| {
            match row.key_state {
                KeyState::Disabled => {}
                KeyState::Enabled => return Err(HsmError::ShouldBeDisabled(row.key_id.clone())),
                _ => return Err(state_not_supported(row)),
            }
            row.key_state = KeyState::PendingDelete;
            row.deletion_date = now + days * DAY;
            Ok(row.deletion_date)
        })
    }

    pub(crate) fn cancel_deletion(&self, scope: Scope<'_>, key_id: &str) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |_, row, _| {
            if row.key_state != KeyState::PendingDelete {
                return Err(HsmError::NotPendingDelete(row.key_id.clone()));
            }
            row.key_state = KeyState::Disabled;
            row.deletion_date = 0;
            Ok(())
        })
    }

    pub(crate) fn archive(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        archive: bool,
    ) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |_, row, _| {
            match (row.key_state, archive) {
                (KeyState::Enabled, true) => row.key_state = KeyState::Archived,
                (KeyState::Archived, false) => row.key_state = KeyState::Enabled,
                _ => return Err(state_not_supported(row)),
            }
            Ok(())
        })
    }

    // ---- Rotation ----

    pub(crate) fn enable_rotation(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        days: Option<u64>,
    ) -> Result<(), HsmError> {
        let days = days.unwrap_or(365);
        if !(7..=365).contains(&days) {
            return Err(HsmError::InvalidParameterValue(
                "RotateDays must be 7 to 365".into(),
            ));
        }
        self.mutate(scope, key_id, |_, row, now| {
            check_rotatable(row)?;
            if ![KeyState::Enabled, KeyState::Disabled].contains(&row.key_state) {
                return Err(state_not_supported(row));
            }
            row.rotation_enabled = true;
            row.rotate_days = days;
            let anchor = if row.last_rotate_time > 0 {
                row.last_rotate_time
            } else {
                row.create_time
            };
            let next = anchor + days * DAY;
            row.next_rotate_time = if next > now { next } else { now + days * DAY };
            Ok(())
        })
    }

    pub(crate) fn disable_rotation(&self, scope: Scope<'_>, key_id: &str) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |_, row, _| {
            if [KeyState::PendingDelete, KeyState::PendingImport].contains(&row.key_state) {
                return Err(state_not_supported(row));
            }
            row.rotation_enabled = false;
            Ok(())
        })
    }

    pub(crate) fn rotation_status(&self, scope: Scope<'_>, key_id: &str) -> Result<bool, HsmError> {
        self.with_key(scope, key_id, |_, row| Ok(row.rotation_enabled))
    }

    pub(crate) fn rotate_now(&self, scope: Scope<'_>, key_id: &str) -> Result<u32, HsmError> {
        self.mutate(scope, key_id, |tx, row, now| {
            check_rotatable(row).map_err(|_| HsmError::RotateNotSupported)?;
            if !row.rotation_enabled {
                return Err(HsmError::RotationNotEnabled(row.key_id.clone()));
            }
            if row.key_state != KeyState::Enabled {
                return Err(state_not_supported(row));
            }
            if row.last_rotate_time > 0 && now < row.last_rotate_time + DAY {
                return Err(HsmError::RotateRateLimited(row.key_id.clone()));
            }
            self.rotate(tx, row, now)?;
            Ok(row.current_version)
        })
    }

    // ---- Symmetric crypto ----

    fn encrypt_with(
        key: &HotKey,
        purpose: CryptoUse,
        plaintext: &[u8],
        context: &[u8],
    ) -> Result<String, HsmError> {
        let row = &key.row;
        check_symmetric(row)?;
        if let Some(refusal) = row.key_state.refusal(&row.key_id, purpose) {
            return Err(refusal);
        }
        let cipher = key
            .version(row.current_version)
            .ok_or_else(|| HsmError::Internal("loading key material"))?;
        let header = blob::header(row.algorithm, &row.key_id, row.current_version)
            .ok_or_else(|| HsmError::Internal("blob header"))?;
        let nonce = random_nonce().map_err(|_| HsmError::Internal("random generator"))?;
        let sealed = cipher.seal(&nonce, &blob::aad(&header, context), plaintext);
        Ok(blob::encode(&header, &nonce, &sealed))
    }

    pub(crate) fn encrypt(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        plaintext: &[u8],
        context: Option<&str>,
    ) -> Result<String, HsmError> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(HsmError::InvalidPlaintext);
        }
        let context = canonical_context(context)?;
        self.with_hot_key(scope, key_id, None, |key| {
            Self::encrypt_with(key, CryptoUse::Encrypt, plaintext, &context)
        })
    }

    pub(crate) fn generate_data_key(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        len: usize,
        context: Option<&str>,
    ) -> Result<(Zeroizing<Vec<u8>>, String), HsmError> {
        let context = canonical_context(context)?;
        let data_key = random_bytes(len).map_err(|_| HsmError::Internal("random generator"))?;
        let blob = self.with_hot_key(scope, key_id, None, |key| {
            Self::encrypt_with(key, CryptoUse::DataKey, &data_key, &context)
        })?;
        Ok((data_key, blob))
    }

    /// Opens a blob: the key is found from the blob alone.
    pub(crate) fn decrypt(
        &self,
        scope: Scope<'_>,
        blob_text: &str,
        context: Option<&str>,
    ) -> Result<Opened, HsmError> {
        let context = canonical_context(context)?;
        let blob = blob::parse(blob_text).ok_or(HsmError::InvalidCiphertext)?;
        self.with_hot_key(scope, &blob.key_id, Some(blob.version), |key| {
            let row = &key.row;
            if let Some(refusal) = row.key_state.refusal(&row.key_id, CryptoUse::Decrypt) {
                return Err(refusal);
            }
            if row.key_usage != KeyUsage::EncryptDecrypt || row.algorithm != blob.algorithm {
                return Err(HsmError::InvalidCiphertext);
            }
            let plaintext = key
                .version(blob.version)
                .ok_or(HsmError::InvalidCiphertext)?
                .open(
                    &blob.nonce,
                    &blob::aad(&blob.header, &context),
                    &blob.sealed,
                )
                .ok_or(HsmError::InvalidCiphertext)?;
            Ok(Opened {
                key_id: row.key_id.clone(),
                plaintext,
            })
        })
    }

    pub(crate) fn re_encrypt(
        &self,
        scope: Scope<'_>,
        blob_text: &str,
        destination: Option<&str>,
        source_context: Option<&str>,
        destination_context: Option<&str>,
    ) -> Result<ReEncrypted, HsmError> {
        let opened = self.decrypt(scope, blob_text, source_context)?;
        let source = blob::parse(blob_text).ok_or(HsmError::InvalidCiphertext)?;
        let dest_id = destination
            .filter(|d| !d.is_empty())
            .unwrap_or(&opened.key_id)
            .to_owned();
        let src_ctx = canonical_context(source_context)?;
        let dst_ctx = canonical_context(destination_context)?;
        let result = self.with_hot_key(scope, &dest_id, None, |key| {
            let row = &key.row;
            if row.key_id == source.key_id
                && row.current_version == source.version
                && src_ctx == dst_ctx
                && row.key_state == KeyState::Enabled
            {
                return Ok(None);
            }
            Self::encrypt_with(key, CryptoUse::Encrypt, &opened.plaintext, &dst_ctx).map(Some)
        })?;
        Ok(match result {
            None => ReEncrypted {
                blob: blob_text.to_owned(),
                key_id: dest_id,
                source_key_id: opened.key_id,
                re_encrypted: false,
            },
            Some(blob) => ReEncrypted {
                blob,
                key_id: dest_id,
                source_key_id: opened.key_id,
                re_encrypted: true,
            },
        })
    }

    // ---- Asymmetric crypto ----

    fn asymmetric<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        usages: &'static [KeyUsage],
        f: impl FnOnce(&KeyRow, &ParsedKey) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        self.with_key(scope, key_id, |tx, row| {
            if !usages.contains(&row.key_usage) {
                return Err(HsmError::WrongUsage {
                    key_id: row.key_id.clone(),
                    usage: row.key_usage,
                    needed: usages,
                });
            }
            if let Some(refusal) = row.key_state.refusal(&row.key_id, CryptoUse::Asymmetric) {
                return Err(refusal);
            }
            let parsed = tx
                .parsed_key(row, row.current_version)?
                .ok_or_else(|| HsmError::Internal("loading key material"))?;
            f(row, &parsed)
        })
    }

    pub(crate) fn public_key(&self, scope: Scope<'_>, key_id: &str) -> Result<Vec<u8>, HsmError> {
        self.asymmetric(scope, key_id, KeyUsage::ASYMMETRIC, |_, key| {
            key.public_key_der()
                .map_err(|_| HsmError::Internal("public key encoding"))
        })
    }

    pub(crate) fn rsa_decrypt(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        padding: RsaPadding,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        self.asymmetric(scope, key_id, &[KeyUsage::DecryptRsa2048], |_, key| {
            key.rsa_decrypt(padding, ciphertext)
                .map_err(|_| HsmError::DecryptFailed)
        })
    }

    pub(crate) fn sm2_decrypt(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        if ciphertext.len() > 256 {
            return Err(HsmError::InvalidParameter(
                "Ciphertext must be at most 256 bytes of C1C3C2 ASN.1 DER".into(),
            ));
        }
        self.asymmetric(scope, key_id, &[KeyUsage::DecryptSm2], |_, key| {
            key.sm2_decrypt_der(ciphertext)
                .map_err(|_| HsmError::DecryptFailed)
        })
    }

    pub(crate) fn sign(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        algorithm: SignAlgorithm,
        input: SignInput<'_>,
    ) -> Result<Vec<u8>, HsmError> {
        self.asymmetric(scope, key_id, KeyUsage::SIGNING, |row, key| {
            check_sign_algorithm(row, algorithm)?;
            key.sign(algorithm, input).map_err(|_| HsmError::SignFailed)
        })
    }

    pub(crate) fn verify(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        algorithm: SignAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        self.asymmetric(scope, key_id, KeyUsage::SIGNING, |row, key| {
            check_sign_algorithm(row, algorithm)?;
            Ok(key.verify(algorithm, input, signature))
        })
    }

    // ---- BYOK ----

    pub(crate) fn parameters_for_import(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        algorithm: RsaPadding,
    ) -> Result<ImportParameters, HsmError> {
        let now = self.now();
        let wrapping = Material::generate(Algorithm::Rsa2048)
            .map_err(|_| HsmError::Internal("key generation"))?;
        let public_key_der = ParsedKey::parse(Algorithm::Rsa2048, &wrapping)
            .and_then(|k| k.public_key_der())
            .map_err(|_| HsmError::Internal("wrapping key"))?;
        let token_bytes = random_bytes(32).map_err(|_| HsmError::Internal("random generator"))?;
        let token = B64.encode(&token_bytes[..]);
        let valid_to = now + IMPORT_TOKEN_LIFETIME;
        self.mutate(scope, key_id, |tx, row, _| {
            require_importable(row)?;
            tx.insert_import_token(
                &token_id(&token),
                &row.key_id,
                algorithm.name(),
                valid_to,
                &wrapping,
            )?;
            Ok(())
        })?;
        Ok(ImportParameters {
            token,
            public_key_der,
            valid_to,
        })
    }

    pub(crate) fn import_key_material(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        token: &str,
        encrypted_material: &[u8],
        valid_to: u64,
    ) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |tx, row, now| {
            require_importable(row)?;
            if valid_to != 0 && (valid_to <= now || valid_to > MAX_VALID_TO) {
                return Err(HsmError::InvalidParameter(format!(
                    "ValidTo must be 0 (never) or a time after now and at most {MAX_VALID_TO}"
                )));
            }
            let stored = tx
                .import_token(&token_id(token))?
                .filter(|t| t.key_id == row.key_id)
                .ok_or_else(|| {
                    HsmError::InvalidParameter(
                        "ImportToken is unknown or belongs to another CMK".into(),
                    )
                })?;
            if now > stored.valid_to {
                return Err(HsmError::TokenExpired);
            }
            let padding = RsaPadding::from_name(&stored.algorithm)
                .ok_or_else(|| HsmError::Internal("import token"))?;
            let wrapping = ParsedKey::parse(Algorithm::Rsa2048, &stored.private_key)
                .map_err(|_| HsmError::Internal("wrapping key"))?;
            let material = wrapping
                .rsa_decrypt(padding, encrypted_material)
                .map_err(|_| HsmError::UndecryptableMaterial)?;
            let material = Material::new(material);
            if material.validate(row.algorithm).is_err() {
                let bits = row.algorithm.symmetric_len().unwrap_or(32) * 8;
                return Err(HsmError::InvalidImportMaterial(bits));
            }
            let fingerprint = tx.store().fingerprint(material.expose_secret());
            match &row.import_fingerprint {
                Some(old)
                    if !bool::from(subtle::ConstantTimeEq::ct_eq(&old[..], &fingerprint[..])) =>
                {
                    return Err(HsmError::MaterialNotMatch);
                }
                _ => {}
            }
            if tx.versions(&row.key_id)?.is_empty() {
                tx.insert_version(&row.key_id, 1, now, &material)?;
            }
            row.import_fingerprint = Some(fingerprint);
            row.current_version = 1;
            row.key_state = KeyState::Enabled;
            row.valid_to = valid_to;
            Ok(())
        })
    }

    pub(crate) fn delete_imported_material(
        &self,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |tx, row, _| {
            require_importable(row)?;
            tx.delete_versions(&row.key_id)?;
            row.key_state = KeyState::PendingImport;
            row.valid_to = 0;
            Ok(())
        })
    }

    /// Seals a plaintext to the caller's public key when one was supplied (never returns it
    /// in clear in that case).
    pub(crate) fn seal_for_caller(
        &self,
        plaintext: Zeroizing<Vec<u8>>,
        public_key: Option<&str>,
        algorithm: Option<&str>,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let Some(pem) = public_key.filter(|p| !p.is_empty()) else {
            return Ok(plaintext);
        };
        let invalid = |message: &str| HsmError::InvalidParameter(message.into());
        let algorithm = SealAlgorithm::from_name(algorithm).ok_or_else(|| {
            invalid("EncryptionAlgorithm must be SM2, SM2_C1C3C2_ASN1, RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256")
        })?;
        seal_to_public_key(pem, algorithm, &plaintext).map(Zeroizing::new).map_err(|e| match e {
            SealError::BadKey => invalid("EncryptionPublicKey must be a PEM RSA-2048 or SM2 public key"),
            SealError::Mismatch => invalid("EncryptionAlgorithm does not fit the EncryptionPublicKey type (RSA key with SM2, or SM2 key with RSA)"),
            SealError::Failed => HsmError::SealFailed,
        })
    }
}

fn token_id(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn can_rotate(row: &KeyRow) -> bool {
    row.origin == Origin::TencentKms && row.key_usage == KeyUsage::EncryptDecrypt
}

fn check_rotatable(row: &KeyRow) -> Result<(), HsmError> {
    if row.origin == Origin::External {
        return Err(HsmError::ExternalCannotRotate);
    }
    if row.key_usage != KeyUsage::EncryptDecrypt {
        return Err(HsmError::OnlySymmetricRotates);
    }
    Ok(())
}

fn check_symmetric(row: &KeyRow) -> Result<(), HsmError> {
    if row.key_usage != KeyUsage::EncryptDecrypt {
        return Err(HsmError::NotSymmetric {
            key_id: row.key_id.clone(),
            usage: row.key_usage,
        });
    }
    Ok(())
}

fn check_sign_algorithm(row: &KeyRow, algorithm: SignAlgorithm) -> Result<(), HsmError> {
    if algorithm.key_algorithm() != row.algorithm {
        return Err(HsmError::InvalidParameterValue(format!(
            "Algorithm does not fit CMK {} ({})",
            row.key_id, row.key_usage
        )));
    }
    Ok(())
}

fn check_id_list(ids: &[String]) -> Result<(), HsmError> {
    if ids.is_empty() || ids.len() > 100 {
        return Err(HsmError::InvalidParameter(
            "KeyIds must hold 1 to 100 ids".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(HsmError::DuplicatedKeyId(id.clone()));
        }
    }
    Ok(())
}

fn check_tags(tags: &[(String, String)]) -> Result<(), HsmError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in tags {
        if k.is_empty() {
            return Err(HsmError::InvalidParameter(
                "TagKey must not be empty".into(),
            ));
        }
        if !seen.insert(k) {
            return Err(HsmError::DuplicatedTagKey(k.clone()));
        }
    }
    Ok(())
}

impl KeyFilter {
    fn matches(&self, key: &KeyInfo) -> bool {
        let row = &key.row;
        let state_ok = self.key_state.accepts(&row.key_state);
        let search_ok = self
            .search
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|s| row.key_id.contains(s) || row.alias.contains(s));
        let origin_ok = self.origin.accepts(&row.origin);
        let usage_ok = self.key_usage.accepts(&row.key_usage);
        let tags_ok = self.tag_filters.iter().all(|(k, values)| {
            key.tags
                .iter()
                .any(|(tk, tv)| tk == k && (values.is_empty() || values.contains(tv)))
        });
        state_ok && search_ok && origin_ok && usage_ok && tags_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_and_alias_rules() {
        assert!(is_valid_key_id("23e80852-1e38-11e9-b129-5cb9019b4b01"));
        assert!(!is_valid_key_id("23E80852-1e38-11e9-b129-5cb9019b4b01"));
        assert!(!is_valid_key_id("23e80852-1e38-11e9-b129-5cb9019b4b0"));
        assert!(!is_valid_key_id("23e80852x1e38-11e9-b129-5cb9019b4b01"));
        assert!(check_alias("app-key_1").is_ok());
        for bad in [
            "",
            "-x",
            "_x",
            "kms-x",
            "KMS-x",
            "a b",
            "é",
            &"a".repeat(61),
        ] {
            assert_eq!(
                check_alias(bad).unwrap_err().code(),
                "InvalidParameterValue.InvalidAlias",
                "{bad}"
            );
        }
        assert!(check_alias(&"a".repeat(60)).is_ok());
    }

    #[test]
    fn context_is_canonical_and_unambiguous() {
        let a = canonical_context(Some(r#"{"b":"2", "a":"1"}"#)).unwrap();
        let b = canonical_context(Some(r#"{"a":"1","b":"2"}"#)).unwrap();
        assert_eq!(a, b);
        assert_ne!(
            canonical_context(Some(r#"{"ab":"c"}"#)).unwrap(),
            canonical_context(Some(r#"{"a":"bc"}"#)).unwrap()
        );
        assert_eq!(
            canonical_context(None).unwrap(),
            canonical_context(Some("{}")).unwrap()
        );
        assert_eq!(
            canonical_context(Some("")).unwrap(),
            canonical_context(Some("{}")).unwrap()
        );
        assert_eq!(
            canonical_context(Some(r#"{"a":1}"#)).unwrap_err().code(),
            "InvalidParameterValue"
        );
        assert_eq!(
            canonical_context(Some("[1]")).unwrap_err().code(),
            "InvalidParameterValue"
        );
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(1020));
        assert_eq!(
            canonical_context(Some(&long)).unwrap_err().code(),
            "InvalidParameterValue"
        );
    }
}
