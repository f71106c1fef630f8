//! The durable key store (docs/key-store.md): SQLite (WAL, `synchronous=FULL`), every mutation
//! one immediate transaction, key material sealed with AES-256-GCM under a storage root key kept
//! outside the database.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockWriteGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::aead::AeadKey;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use zeroize::Zeroizing;

use crate::hsm::{KeyState, KeyUsage, Origin};
use crate::material::{
    Algorithm, Material, NONCE_LEN, ParsedKey, aead_open, aead_seal, random_bytes, random_nonce,
    symmetric_key,
};

/// Environment variable that may hold the storage root key (base64 of 32 bytes).
pub const ROOT_KEY_ENV: &str = "TKMS_HSM_ROOT_KEY";
/// File name of the root key inside a data directory.
pub const ROOT_KEY_FILE: &str = "root.key";
/// File name of the database inside a data directory.
pub const DB_FILE: &str = "kms.sqlite3";
/// The newest schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = 3;

const ROOT_CHECK_AAD: &[u8] = b"tkms-root-key-check-v1";
const ROOT_CHECK_PLAINTEXT: &[u8] = b"tkms storage root key";
const MATERIAL_AAD_LABEL: &[u8] = b"tkms-material-v1";
const TOKEN_AAD_LABEL: &[u8] = b"tkms-import-token-v1";

/// Where the key store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A SQLite database in this directory (created if missing).
    Directory(PathBuf),
    /// Memory only; everything is lost when the [`crate::Hsm`] is dropped.
    InMemory,
}

/// Where the storage root key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKeySource {
    /// `TKMS_HSM_ROOT_KEY` if set, else `root.key` in the data directory (created with mode 0600
    /// on first use). In-memory stores use a random key.
    Default,
    /// This file (created with mode 0600 if missing): 32 raw bytes.
    File(PathBuf),
    /// This environment variable, base64 of 32 bytes.
    EnvVar(String),
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The database could not be opened or migrated.
    #[error("key store database error: {0}")]
    Database(String),
    /// The root key is missing, unreadable or malformed.
    #[error("storage root key: {0}")]
    RootKey(String),
    /// The root key does not open this store.
    #[error(
        "the storage root key does not match this key store (wrong {ROOT_KEY_ENV} or root.key?)"
    )]
    WrongRootKey,
    /// The database was written by a newer version of tkms.
    #[error("key store schema version {0} is newer than this build supports ({SCHEMA_VERSION})")]
    TooNew(i64),
    /// A seed file could not be applied.
    #[error("seed: {0}")]
    Seed(String),
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// The 32-byte storage root key.
pub(crate) struct RootKey(Zeroizing<[u8; 32]>);

impl RootKey {
    fn from_slice(bytes: &[u8]) -> Result<Self, OpenError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| OpenError::RootKey("must be exactly 32 bytes".into()))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    fn random() -> Result<Self, OpenError> {
        let bytes =
            random_bytes(32).map_err(|_| OpenError::RootKey("random generator failed".into()))?;
        Self::from_slice(&bytes)
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> rusqlite::Result<([u8; NONCE_LEN], Vec<u8>)> {
        let nonce = random_nonce().map_err(|_| internal("random generator failed"))?;
        let sealed = aead_seal(Algorithm::Aes256, &self.0[..], &nonce, aad, plaintext)
            .map_err(|_| internal("sealing key material failed"))?;
        Ok((nonce, sealed))
    }

    fn open(&self, aad: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        aead_open(Algorithm::Aes256, &self.0[..], &nonce, aad, sealed).ok()
    }
}

fn internal(message: &str) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(message.to_owned().into())
}

fn load_root_key(storage: &Storage, source: &RootKeySource) -> Result<RootKey, OpenError> {
    match source {
        RootKeySource::EnvVar(name) => from_env(name)?
            .ok_or_else(|| OpenError::RootKey(format!("environment variable {name} is not set"))),
        RootKeySource::File(path) => root_key_file(path),
        RootKeySource::Default => {
            if let Some(key) = from_env(ROOT_KEY_ENV)? {
                return Ok(key);
            }
            match storage {
                Storage::Directory(dir) => root_key_file(&dir.join(ROOT_KEY_FILE)),
                Storage::InMemory => RootKey::random(),
            }
        }
    }
}

fn from_env(name: &str) -> Result<Option<RootKey>, OpenError> {
    let Some(value) = std::env::var_os(name) else {
        return Ok(None);
    };
    let value = Zeroizing::new(
        value
            .into_string()
            .map_err(|_| OpenError::RootKey(format!("{name} is not UTF-8")))?,
    );
    let bytes = Zeroizing::new(
        B64.decode(value.trim())
            .map_err(|_| OpenError::RootKey(format!("{name} is not base64 of 32 bytes")))?,
    );
    RootKey::from_slice(&bytes).map(Some)
}

/// Reads the root key file, creating it atomically (mode 0600, fsynced, linked into place so a
/// concurrent creator never sees a partial file) when missing.
fn root_key_file(path: &Path) -> Result<RootKey, OpenError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let describe = |e: std::io::Error| OpenError::RootKey(format!("{}: {e}", path.display()));
    if !path.exists() {
        let dir = path.parent().unwrap_or(Path::new("."));
        let key =
            random_bytes(32).map_err(|_| OpenError::RootKey("random generator failed".into()))?;
        let suffix = hex::encode(
            &random_bytes(8).map_err(|_| OpenError::RootKey("random generator failed".into()))?[..],
        );
        let tmp = dir.join(format!(".{ROOT_KEY_FILE}.{suffix}.tmp"));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(describe)?;
        file.write_all(&key)
            .and_then(|()| file.sync_all())
            .map_err(describe)?;
        drop(file);
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(describe(e)),
        }
    }
    let meta = fs::metadata(path).map_err(describe)?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(OpenError::RootKey(format!(
            "{} is readable by other users; run `chmod 600` on it",
            path.display()
        )));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(describe)?);
    RootKey::from_slice(&bytes)
}

/// One CMK's metadata row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyRow {
    pub(crate) key_id: String,
    pub(crate) account_uin: u64,
    pub(crate) region: String,
    pub(crate) alias: String,
    pub(crate) description: String,
    pub(crate) key_usage: KeyUsage,
    pub(crate) algorithm: Algorithm,
    pub(crate) origin: Origin,
    pub(crate) key_state: KeyState,
    pub(crate) create_time: u64,
    pub(crate) deletion_date: u64,
    pub(crate) valid_to: u64,
    pub(crate) rotation_enabled: bool,
    pub(crate) rotate_days: u64,
    pub(crate) last_rotate_time: u64,
    pub(crate) next_rotate_time: u64,
    pub(crate) current_version: u32,
    /// HMAC-SHA256 (under a root-key-derived key) of imported material, for MaterialNotMatch.
    pub(crate) import_fingerprint: Option<Vec<u8>>,
}

const KEY_COLUMNS: &str = "key_id, account_uin, region, alias, description, key_usage, algorithm, origin, key_state, \
     create_time, deletion_date, valid_to, rotation_enabled, rotate_days, last_rotate_time, next_rotate_time, \
     current_version, import_fingerprint";

/// Reads a stored wire string as its typed value.
fn typed<T>(
    row: &rusqlite::Row<'_>,
    column: usize,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).ok_or_else(|| internal(&format!("unknown {what} {text:?} in key store")))
}

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        key_id: row.get(0)?,
        account_uin: row.get::<_, i64>(1)? as u64,
        region: row.get(2)?,
        alias: row.get(3)?,
        description: row.get(4)?,
        key_usage: typed(row, 5, KeyUsage::parse, "key usage")?,
        algorithm: typed(row, 6, Algorithm::from_name, "algorithm")?,
        origin: typed(row, 7, Origin::parse, "origin")?,
        key_state: typed(row, 8, KeyState::parse, "key state")?,
        create_time: row.get::<_, i64>(9)? as u64,
        deletion_date: row.get::<_, i64>(10)? as u64,
        valid_to: row.get::<_, i64>(11)? as u64,
        rotation_enabled: row.get(12)?,
        rotate_days: row.get::<_, i64>(13)? as u64,
        last_rotate_time: row.get::<_, i64>(14)? as u64,
        next_rotate_time: row.get::<_, i64>(15)? as u64,
        current_version: row.get::<_, i64>(16)? as u32,
        import_fingerprint: row.get(17)?,
    })
}

/// An import token's stored parameters.
pub(crate) struct ImportToken {
    pub(crate) key_id: String,
    pub(crate) algorithm: String,
    pub(crate) valid_to: u64,
    pub(crate) private_key: Material,
}

/// Parsed private keys by (key id, version), with the nonce of the sealed row they came from.
type ParsedCache = HashMap<(String, u32), ([u8; NONCE_LEN], Arc<ParsedKey>)>;
/// An import token row: key id, algorithm, valid to, nonce, sealed private key.
type TokenRow = (String, String, i64, Vec<u8>, Vec<u8>);

/// A symmetric key as Encrypt, Decrypt, GenerateDataKey and ReEncrypt use it: its row and the
/// versions calls have needed (the current one, and older ones as blobs name them), each with
/// its key schedule done. A key rotated for years may have hundreds of versions: they are loaded
/// one by one as asked for, never all at once.
pub(crate) struct HotKey {
    pub(crate) row: KeyRow,
    versions: HashMap<u32, Arc<AeadKey>>,
}

impl HotKey {
    /// `row` with its current version and `also` (skipping versions the key does not have;
    /// none at all for asymmetric keys and keys awaiting import).
    pub(crate) fn load(tx: &Tx<'_>, row: KeyRow, also: Option<u32>) -> rusqlite::Result<Self> {
        let mut key = Self {
            row,
            versions: HashMap::new(),
        };
        key.load_versions(tx, also)?;
        Ok(key)
    }

    /// Adds the current version and `also` when missing.
    fn load_versions(&mut self, tx: &Tx<'_>, also: Option<u32>) -> rusqlite::Result<()> {
        if self.row.algorithm.symmetric_len().is_none() {
            return Ok(());
        }
        let missing: Vec<u32> = self
            .wanted(also)
            .filter(|v| !self.versions.contains_key(v))
            .collect();
        for version in missing {
            if let Some(material) = tx.material(&self.row.key_id, version)? {
                let key = symmetric_key(self.row.algorithm, material.expose_secret())
                    .map_err(|_| internal("stored key material does not fit its algorithm"))?;
                self.versions.insert(version, Arc::new(key));
            }
        }
        Ok(())
    }

    /// A version ready to use, if the key has it.
    pub(crate) fn version(&self, version: u32) -> Option<&AeadKey> {
        self.versions.get(&version).map(Arc::as_ref)
    }

    /// The current version, and `also`.
    fn wanted(&self, also: Option<u32>) -> impl Iterator<Item = u32> {
        [Some(self.row.current_version), also].into_iter().flatten()
    }

    /// True when the current version and `also` are loaded.
    fn has_versions(&self, also: Option<u32>) -> bool {
        self.wanted(also).all(|v| self.versions.contains_key(&v))
    }
}

/// Most symmetric keys kept in memory at once (the cache starts over beyond it).
const MAX_HOT_KEYS: usize = 10_000;

/// Symmetric keys read from the database, kept while it is unchanged: `data_version` is SQLite's
/// `PRAGMA data_version` of the snapshot they came from, which moves whenever another connection
/// (another process, the audit writer) commits; this store's own writes clear the cache.
#[derive(Default)]
struct HotKeys {
    data_version: Option<i64>,
    /// A wal-index header and the `data_version` computed after it was read: while the header
    /// is the same, no connection has committed, so `data_version` still holds.
    unchanged_since: Option<WalIndexHeader>,
    by_id: HashMap<String, Arc<HotKey>>,
}

/// The first copy of SQLite's wal-index header (https://sqlite.org/walformat.html).
type WalIndexHeader = [u8; 48];

/// SQLite's wal-index (the `-shm` file beside a WAL database), read for one fact: whether any
/// connection has committed. Every commit rewrites its header (`iChange` counts commits), so an
/// unchanged header means an unchanged database; reading it is one `pread`, where
/// `PRAGMA data_version` takes the connection and two `fcntl` locks. Only ever a shortcut: any
/// doubt (no file, a header being written) falls back to `data_version`.
struct WalIndex(fs::File);

impl WalIndex {
    fn open(database: &Path) -> Option<Self> {
        let mut name = database.as_os_str().to_owned();
        name.push("-shm");
        fs::File::open(name).ok().map(Self)
    }

    /// The header, when it is initialised and its two copies agree (a writer updates the second
    /// copy, then the first).
    fn header(&self) -> Option<WalIndexHeader> {
        use std::os::unix::fs::FileExt as _;
        let mut both = [0u8; 96];
        self.0.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(48);
        // Byte 12 is isInit.
        if first != second || first[12] != 1 {
            return None;
        }
        first.try_into().ok()
    }
}

impl HotKeys {
    /// Drops everything read before `data_version`.
    fn advance(&mut self, data_version: i64) {
        if self.data_version != Some(data_version) {
            self.by_id.clear();
            self.data_version = Some(data_version);
        }
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

/// The store: one connection behind a mutex (SQLite serialises writers anyway), plus two caches:
/// symmetric keys ready to use while the database is unchanged ([`Store::hot_key`]), and parsed
/// asymmetric keys keyed by (key id, version, sealing nonce) so a re-written version is never
/// served stale.
pub(crate) struct Store {
    conn: Mutex<Connection>,
    root: RootKey,
    hot: RwLock<HotKeys>,
    /// `None` for an in-memory store, which no other connection can change.
    wal_index: Option<WalIndex>,
    parsed: Mutex<ParsedCache>,
    path: Option<PathBuf>,
}

impl Store {
    pub(crate) fn open(storage: &Storage, source: &RootKeySource) -> Result<Self, OpenError> {
        if let Storage::Directory(dir) = storage {
            // Owner-only: the database holds sealed key material and the root key file sits beside it.
            use std::os::unix::fs::DirBuilderExt as _;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| OpenError::Database(format!("{}: {e}", dir.display())))?;
        }
        let root = load_root_key(storage, source)?;
        let (conn, path) = match storage {
            Storage::InMemory => (Connection::open_in_memory()?, None),
            Storage::Directory(dir) => {
                let path = dir.join(DB_FILE);
                (Connection::open(&path)?, Some(path))
            }
        };
        conn.busy_timeout(Duration::from_secs(10))?;
        if path.is_some() {
            let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        let mut store = Self {
            conn: Mutex::new(conn),
            root,
            hot: RwLock::default(),
            wal_index: None,
            parsed: Mutex::new(HashMap::new()),
            path,
        };
        store.migrate(SCHEMA_VERSION)?;
        store.check_root_key()?;
        // After the first transactions, so SQLite has created the -shm file.
        store.wal_index = store.path.as_deref().and_then(WalIndex::open);
        Ok(store)
    }

    /// The database file, when on disk.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on drop).
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies migrations up to `target` in one transaction each.
    pub(crate) fn migrate(&self, target: i64) -> Result<(), OpenError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
        let current: Option<i64> = tx
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?;
        let mut current = match current {
            Some(v) => v,
            None => {
                tx.execute("INSERT INTO schema_version (version) VALUES (0)", [])?;
                0
            }
        };
        if current > SCHEMA_VERSION {
            return Err(OpenError::TooNew(current));
        }
        while current < target {
            let next = current + 1;
            let sql = MIGRATIONS
                .get(current as usize)
                .ok_or(OpenError::TooNew(next))?;
            tx.execute_batch(sql)?;
            tx.execute("UPDATE schema_version SET version = ?1", [next])?;
            current = next;
        }
        tx.commit()?;
        Ok(())
    }

    fn check_root_key(&self) -> Result<(), OpenError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let check: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM meta WHERE name = 'root_key_check'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match check {
            Some(value) if value.len() > NONCE_LEN => {
                let opened =
                    self.root
                        .open(ROOT_CHECK_AAD, &value[..NONCE_LEN], &value[NONCE_LEN..]);
                if opened.as_deref().map(|v| &v[..]) != Some(ROOT_CHECK_PLAINTEXT) {
                    return Err(OpenError::WrongRootKey);
                }
            }
            Some(_) => return Err(OpenError::WrongRootKey),
            None => {
                let (nonce, sealed) = self.root.seal(ROOT_CHECK_AAD, ROOT_CHECK_PLAINTEXT)?;
                let mut value = nonce.to_vec();
                value.extend_from_slice(&sealed);
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES ('root_key_check', ?1)",
                    [value],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&Tx {
            tx: &tx,
            store: self,
        })?;
        tx.finish()?;
        Ok(out)
    }

    fn hot(&self) -> RwLockWriteGuard<'_, HotKeys> {
        self.hot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The symmetric key `key_id` of a scope with its versions ready, from memory while nothing
    /// has been committed since it was read. `None`: no such key, or not a symmetric one.
    ///
    /// When cached, this costs one read of the wal-index header: the hot calls (Encrypt,
    /// Decrypt, GenerateDataKey) then neither take the connection nor unseal material, yet see
    /// every commit, including other processes' (a key disabled by `tkms key disable` on the
    /// same store is refused at once).
    ///
    /// The key comes with its current version and `also` loaded, when the key has them.
    pub(crate) fn hot_key(
        &self,
        account_uin: u64,
        region: &str,
        key_id: &str,
        also: Option<u32>,
    ) -> rusqlite::Result<Option<Arc<HotKey>>> {
        let in_scope =
            |key: &&Arc<HotKey>| key.row.account_uin == account_uin && key.row.region == region;
        let cached = |hot: &HotKeys| {
            hot.by_id
                .get(key_id)
                .filter(in_scope)
                .filter(|key| key.has_versions(also))
                .cloned()
        };
        // Read before anything else, so that a commit after this point changes the header. An
        // in-memory store changes only through this store, whose writes clear the cache.
        let header = match (&self.path, &self.wal_index) {
            (None, _) => Some([0; 48]),
            (Some(_), wal_index) => wal_index.as_ref().and_then(WalIndex::header),
        };
        {
            let hot = self
                .hot
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if header.is_some()
                && hot.unchanged_since == header
                && let Some(key) = cached(&hot)
            {
                return Ok(Some(key));
            }
        }
        let mut conn = self.lock();
        let current = data_version(&conn)?;
        // Versions already loaded in this state of the database are still good.
        let loaded = {
            let mut hot = self.hot();
            hot.advance(current);
            hot.unchanged_since = header;
            if let Some(key) = cached(&hot) {
                return Ok(Some(key));
            }
            hot.by_id
                .get(key_id)
                .filter(in_scope)
                .map(|key| key.versions.clone())
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let view = Tx {
            tx: &tx,
            store: self,
        };
        let Some(row) = view.key(account_uin, region, key_id)? else {
            return Ok(None);
        };
        if row.algorithm.symmetric_len().is_none() {
            return Ok(None);
        }
        // The version of the snapshot just read, which a commit since `current` may have moved.
        let snapshot = data_version(&tx)?;
        let mut key = HotKey {
            row,
            versions: loaded.filter(|_| snapshot == current).unwrap_or_default(),
        };
        key.load_versions(&view, also)?;
        let key = Arc::new(key);
        tx.finish()?;
        let mut hot = self.hot();
        hot.advance(snapshot);
        if hot.by_id.len() >= MAX_HOT_KEYS {
            hot.by_id.clear();
        }
        hot.by_id.insert(key.row.key_id.clone(), Arc::clone(&key));
        Ok(Some(key))
    }

    /// Runs `f` in an immediate (write-locked) transaction and commits it durably when `f`
    /// succeeds; rolls back otherwise. `E` carries both API errors and database errors.
    pub(crate) fn write<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.lock();
        let result = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(E::from)
            .and_then(|tx| {
                let out = f(&Tx {
                    tx: &tx,
                    store: self,
                })?;
                tx.commit()?;
                Ok(out)
            });
        // Still under the connection lock, before the caller hears of the commit: calls that
        // used the cache until now overlapped this write (and ran while it waited for fsync).
        self.hot().by_id.clear();
        result
    }

    /// Parsed private key for a version, from the cache when the stored row is unchanged.
    pub(crate) fn parsed_key(
        &self,
        tx: &Tx<'_>,
        key: &KeyRow,
        version: u32,
    ) -> rusqlite::Result<Option<Arc<ParsedKey>>> {
        let Some((nonce, sealed)) = tx.sealed_version(&key.key_id, version)? else {
            return Ok(None);
        };
        let cache_key = (key.key_id.clone(), version);
        if let Some((cached_nonce, parsed)) = self
            .parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cache_key)
            && cached_nonce[..] == nonce[..]
        {
            return Ok(Some(parsed.clone()));
        }
        let material = self.open_material(&key.key_id, version, &nonce, &sealed)?;
        let parsed = Arc::new(
            ParsedKey::parse(key.algorithm, &material)
                .map_err(|_| internal("stored key material does not parse"))?,
        );
        let nonce: [u8; NONCE_LEN] = nonce
            .as_slice()
            .try_into()
            .map_err(|_| internal("bad stored nonce"))?;
        self.parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cache_key, (nonce, parsed.clone()));
        Ok(Some(parsed))
    }

    fn open_material(
        &self,
        key_id: &str,
        version: u32,
        nonce: &[u8],
        sealed: &[u8],
    ) -> rusqlite::Result<Material> {
        self.root
            .open(&material_aad(key_id, version), nonce, sealed)
            .map(Material::new)
            .ok_or_else(|| {
                internal("stored key material failed authentication (wrong root key or corruption)")
            })
    }

    /// HMAC-SHA256 fingerprint of imported material under a key derived from the root key, so
    /// re-imports can be compared without keeping the material.
    pub(crate) fn fingerprint(&self, material: &[u8]) -> Vec<u8> {
        use hmac::{KeyInit as _, Mac as _};
        let mut derive = <hmac::Hmac<sha2::Sha256>>::new_from_slice(&self.root.0[..])
            .expect("HMAC takes any key length");
        derive.update(b"tkms-import-fingerprint-v1");
        let subkey = Zeroizing::new(derive.finalize().into_bytes().to_vec());
        let mut mac =
            <hmac::Hmac<sha2::Sha256>>::new_from_slice(&subkey).expect("HMAC takes any key length");
        mac.update(material);
        mac.finalize().into_bytes().to_vec()
    }

    /// Drops every cached parsed key (after a reset).
    pub(crate) fn clear_cache(&self) {
        self.parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

fn material_aad(key_id: &str, version: u32) -> Vec<u8> {
    let mut aad = MATERIAL_AAD_LABEL.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn token_aad(token_id: &str) -> Vec<u8> {
    let mut aad = TOKEN_AAD_LABEL.to_vec();
    aad.extend_from_slice(token_id.as_bytes());
    aad
}

/// A transaction with the store's root key at hand.
pub(crate) struct Tx<'a> {
    tx: &'a Transaction<'a>,
    store: &'a Store,
}

impl Tx<'_> {
    pub(crate) fn store(&self) -> &Store {
        self.store
    }

    pub(crate) fn key(
        &self,
        account_uin: u64,
        region: &str,
        key_id: &str,
    ) -> rusqlite::Result<Option<KeyRow>> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1 AND account_uin = ?2 AND region = ?3"
            ))?
            .query_row(params![key_id, account_uin as i64, region], key_from_row)
            .optional()
    }

    pub(crate) fn key_by_id(&self, key_id: &str) -> rusqlite::Result<Option<KeyRow>> {
        self.tx
            .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1"))?
            .query_row([key_id], key_from_row)
            .optional()
    }

    /// Every key in a scope, oldest first.
    pub(crate) fn keys_in_scope(
        &self,
        account_uin: u64,
        region: &str,
    ) -> rusqlite::Result<Vec<KeyRow>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE account_uin = ?1 AND region = ?2 ORDER BY create_time, rowid"
        ))?;
        stmt.query_map(params![account_uin as i64, region], key_from_row)?
            .collect()
    }

    /// Every key, oldest first.
    pub(crate) fn all_keys(&self) -> rusqlite::Result<Vec<KeyRow>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM keys ORDER BY create_time, rowid"
        ))?;
        stmt.query_map([], key_from_row)?.collect()
    }

    /// Keys whose schedules may need attention at `now`: deletion due, rotation due, import expired.
    pub(crate) fn keys_needing_maintenance(&self, now: u64) -> rusqlite::Result<Vec<KeyRow>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE (key_state = ?2 AND deletion_date <= ?1) \
             OR (key_state = ?3 AND rotation_enabled = 1 AND next_rotate_time <= ?1) \
             OR (key_state = ?3 AND valid_to > 0 AND valid_to <= ?1)"
        ))?;
        stmt.query_map(
            params![
                now as i64,
                KeyState::PendingDelete.as_str(),
                KeyState::Enabled.as_str()
            ],
            key_from_row,
        )?
        .collect()
    }

    pub(crate) fn alias_taken(
        &self,
        account_uin: u64,
        region: &str,
        alias: &str,
        except: &str,
    ) -> rusqlite::Result<bool> {
        self.tx
            .query_row(
                "SELECT 1 FROM keys WHERE account_uin = ?1 AND region = ?2 AND alias = ?3 AND key_id != ?4",
                params![account_uin as i64, region, alias, except],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
    }

    pub(crate) fn insert_key(&self, k: &KeyRow) -> rusqlite::Result<()> {
        self.tx.execute(
            &format!("INSERT INTO keys ({KEY_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"),
            params![
                k.key_id,
                k.account_uin as i64,
                k.region,
                k.alias,
                k.description,
                k.key_usage.as_str(),
                k.algorithm.name(),
                k.origin.as_str(),
                k.key_state.as_str(),
                k.create_time as i64,
                k.deletion_date as i64,
                k.valid_to as i64,
                k.rotation_enabled,
                k.rotate_days as i64,
                k.last_rotate_time as i64,
                k.next_rotate_time as i64,
                k.current_version as i64,
                k.import_fingerprint,
            ],
        )?;
        Ok(())
    }

    /// Writes every mutable column of `k`.
    pub(crate) fn update_key(&self, k: &KeyRow) -> rusqlite::Result<()> {
        self.tx.execute(
            "UPDATE keys SET alias=?2, description=?3, key_state=?4, deletion_date=?5, valid_to=?6, \
             rotation_enabled=?7, rotate_days=?8, last_rotate_time=?9, next_rotate_time=?10, current_version=?11, \
             import_fingerprint=?12 WHERE key_id=?1",
            params![
                k.key_id,
                k.alias,
                k.description,
                k.key_state.as_str(),
                k.deletion_date as i64,
                k.valid_to as i64,
                k.rotation_enabled,
                k.rotate_days as i64,
                k.last_rotate_time as i64,
                k.next_rotate_time as i64,
                k.current_version as i64,
                k.import_fingerprint,
            ],
        )?;
        Ok(())
    }

    pub(crate) fn delete_key(&self, key_id: &str) -> rusqlite::Result<()> {
        self.tx
            .execute("DELETE FROM key_versions WHERE key_id = ?1", [key_id])?;
        self.tx
            .execute("DELETE FROM tags WHERE key_id = ?1", [key_id])?;
        self.tx
            .execute("DELETE FROM import_tokens WHERE key_id = ?1", [key_id])?;
        self.tx
            .execute("DELETE FROM keys WHERE key_id = ?1", [key_id])?;
        Ok(())
    }

    /// Seals and stores a version's material.
    pub(crate) fn insert_version(
        &self,
        key_id: &str,
        version: u32,
        created: u64,
        material: &Material,
    ) -> rusqlite::Result<()> {
        let (nonce, sealed) = self
            .store
            .root
            .seal(&material_aad(key_id, version), material.expose_secret())?;
        self.tx.execute(
            "INSERT INTO key_versions (key_id, version, created, nonce, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key_id, version as i64, created as i64, &nonce[..], sealed],
        )?;
        Ok(())
    }

    pub(crate) fn delete_versions(&self, key_id: &str) -> rusqlite::Result<()> {
        self.tx
            .execute("DELETE FROM key_versions WHERE key_id = ?1", [key_id])?;
        Ok(())
    }

    fn sealed_version(
        &self,
        key_id: &str,
        version: u32,
    ) -> rusqlite::Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.tx
            .prepare_cached(
                "SELECT nonce, sealed FROM key_versions WHERE key_id = ?1 AND version = ?2",
            )?
            .query_row(params![key_id, version as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
    }

    /// A version's material, opened with the root key.
    pub(crate) fn material(
        &self,
        key_id: &str,
        version: u32,
    ) -> rusqlite::Result<Option<Material>> {
        match self.sealed_version(key_id, version)? {
            Some((nonce, sealed)) => self
                .store
                .open_material(key_id, version, &nonce, &sealed)
                .map(Some),
            None => Ok(None),
        }
    }

    /// Version numbers stored for a key, ascending.
    pub(crate) fn versions(&self, key_id: &str) -> rusqlite::Result<Vec<(u32, u64)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT version, created FROM key_versions WHERE key_id = ?1 ORDER BY version",
        )?;
        stmt.query_map([key_id], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u64))
        })?
        .collect()
    }

    pub(crate) fn parsed_key(
        &self,
        key: &KeyRow,
        version: u32,
    ) -> rusqlite::Result<Option<Arc<ParsedKey>>> {
        self.store.parsed_key(self, key, version)
    }

    pub(crate) fn tags(&self, key_id: &str) -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT tag_key, tag_value FROM tags WHERE key_id = ?1 ORDER BY tag_key",
        )?;
        stmt.query_map([key_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    pub(crate) fn insert_tag(
        &self,
        key_id: &str,
        tag_key: &str,
        tag_value: &str,
    ) -> rusqlite::Result<()> {
        self.tx.execute(
            "INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?1, ?2, ?3)",
            params![key_id, tag_key, tag_value],
        )?;
        Ok(())
    }

    pub(crate) fn insert_import_token(
        &self,
        token_id: &str,
        key_id: &str,
        algorithm: &str,
        valid_to: u64,
        private_key: &Material,
    ) -> rusqlite::Result<()> {
        let (nonce, sealed) = self
            .store
            .root
            .seal(&token_aad(token_id), private_key.expose_secret())?;
        self.tx.execute(
            "INSERT INTO import_tokens (token_id, key_id, algorithm, valid_to, nonce, sealed) VALUES (?1,?2,?3,?4,?5,?6)",
            params![token_id, key_id, algorithm, valid_to as i64, &nonce[..], sealed],
        )?;
        Ok(())
    }

    pub(crate) fn import_token(&self, token_id: &str) -> rusqlite::Result<Option<ImportToken>> {
        let row: Option<TokenRow> = self
            .tx
            .query_row(
                "SELECT key_id, algorithm, valid_to, nonce, sealed FROM import_tokens WHERE token_id = ?1",
                [token_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((key_id, algorithm, valid_to, nonce, sealed)) = row else {
            return Ok(None);
        };
        let private_key = self
            .store
            .root
            .open(&token_aad(token_id), &nonce, &sealed)
            .map(Material::new)
            .ok_or_else(|| internal("stored import key failed authentication"))?;
        Ok(Some(ImportToken {
            key_id,
            algorithm,
            valid_to: valid_to as u64,
            private_key,
        }))
    }

    pub(crate) fn delete_expired_tokens(&self, now: u64) -> rusqlite::Result<()> {
        self.tx.execute(
            "DELETE FROM import_tokens WHERE valid_to < ?1",
            [now as i64],
        )?;
        Ok(())
    }

    /// Deletes every key and token (test controls).
    pub(crate) fn wipe(&self) -> rusqlite::Result<()> {
        self.tx.execute_batch("DELETE FROM key_versions; DELETE FROM tags; DELETE FROM import_tokens; DELETE FROM keys;")
    }
}

/// Schema migrations; entry `n` takes the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the key store.
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE keys (
        key_id TEXT PRIMARY KEY,
        account_uin INTEGER NOT NULL,
        region TEXT NOT NULL,
        alias TEXT NOT NULL,
        description TEXT NOT NULL,
        key_usage TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        origin TEXT NOT NULL,
        key_state TEXT NOT NULL,
        create_time INTEGER NOT NULL,
        deletion_date INTEGER NOT NULL,
        valid_to INTEGER NOT NULL,
        rotation_enabled INTEGER NOT NULL,
        rotate_days INTEGER NOT NULL,
        last_rotate_time INTEGER NOT NULL,
        next_rotate_time INTEGER NOT NULL,
        current_version INTEGER NOT NULL,
        import_fingerprint BLOB,
        UNIQUE (account_uin, region, alias)
     );
     CREATE TABLE key_versions (
        key_id TEXT NOT NULL REFERENCES keys(key_id),
        version INTEGER NOT NULL,
        created INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (key_id, version)
     );
     CREATE TABLE tags (
        key_id TEXT NOT NULL REFERENCES keys(key_id),
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
     );",
    // 2: BYOK import tokens, and an index for listing a scope in creation order.
    "CREATE TABLE import_tokens (
        token_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(key_id),
        algorithm TEXT NOT NULL,
        valid_to INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        sealed BLOB NOT NULL
     );
     CREATE INDEX keys_by_scope ON keys (account_uin, region, create_time);",
    // 3: the audit trail (crate::audit).
    crate::audit::AUDIT_SCHEMA,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_index_header_changes_with_every_commit_of_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Directory(dir.path().to_path_buf());
        let store = Store::open(&storage, &RootKeySource::Default).unwrap();
        let other = Store::open(&storage, &RootKeySource::Default).unwrap();
        let wal_index = store
            .wal_index
            .as_ref()
            .expect("a WAL store has a wal-index");
        let mut seen = vec![wal_index.header().expect("an initialised header")];
        for i in 0..20 {
            let writer = if i % 2 == 0 { &other } else { &store };
            writer
                .write(|tx| {
                    tx.tx.execute(
                        "INSERT INTO meta (name, value) VALUES (?1, x'00')",
                        [i.to_string()],
                    )
                })
                .unwrap();
            let header = wal_index.header().expect("no commit in progress");
            assert!(
                !seen.contains(&header),
                "commit {i} left the header as it was"
            );
            seen.push(header);
        }
        // Reads change nothing.
        store.read(|tx| tx.key_by_id("none")).unwrap();
        assert_eq!(wal_index.header().as_ref(), seen.last());
        let in_memory = Store::open(&Storage::InMemory, &RootKeySource::Default).unwrap();
        assert!(in_memory.wal_index.is_none());
    }

    #[test]
    fn opening_a_version_1_store_migrates_it_and_keeps_keys() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Directory(dir.path().to_path_buf());
        {
            let store = Store::open_at_version(&storage, &RootKeySource::Default, 1).unwrap();
            let version: i64 = store
                .lock()
                .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, 1);
            store
                .lock()
                .execute(
                    "INSERT INTO keys VALUES ('k', 1, 'r', 'a', '', 'ENCRYPT_DECRYPT', 'AES_256', 'TENCENT_KMS', 'Enabled', 1, 0, 0, 0, 365, 0, 2, 1, NULL)",
                    [],
                )
                .unwrap();
            let tokens = store
                .lock()
                .query_row("SELECT count(*) FROM import_tokens", [], |r| {
                    r.get::<_, i64>(0)
                });
            assert!(tokens.is_err(), "version 1 has no import_tokens table");
        }
        let store = Store::open(&storage, &RootKeySource::Default).unwrap();
        let version: i64 = store
            .lock()
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(
            store
                .read(|tx| tx.key_by_id("k"))
                .map_err(|e: rusqlite::Error| e)
                .unwrap()
                .unwrap()
                .alias,
            "a"
        );
        assert_eq!(
            store
                .lock()
                .query_row("SELECT count(*) FROM import_tokens", [], |r| r
                    .get::<_, i64>(0))
                .unwrap(),
            0
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Directory(dir.path().to_path_buf());
        drop(Store::open(&storage, &RootKeySource::Default).unwrap());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(conn);
        assert!(matches!(
            Store::open(&storage, &RootKeySource::Default),
            Err(OpenError::TooNew(99))
        ));
    }

    #[test]
    fn root_key_file_is_private_and_wrong_key_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Directory(dir.path().to_path_buf());
        drop(Store::open(&storage, &RootKeySource::Default).unwrap());
        let key_path = dir.path().join(ROOT_KEY_FILE);
        assert_eq!(
            fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&key_path).unwrap().len(), 32);
        let other = dir.path().join("other.key");
        assert!(matches!(
            Store::open(&storage, &RootKeySource::File(other)),
            Err(OpenError::WrongRootKey)
        ));
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Store::open(&storage, &RootKeySource::Default),
            Err(OpenError::RootKey(_))
        ));
    }

    impl Store {
        fn open_at_version(
            storage: &Storage,
            source: &RootKeySource,
            version: i64,
        ) -> Result<Self, OpenError> {
            let root = load_root_key(storage, source)?;
            let Storage::Directory(dir) = storage else {
                unreachable!()
            };
            fs::create_dir_all(dir).unwrap();
            let conn = Connection::open(dir.join(DB_FILE))?;
            let store = Self {
                conn: Mutex::new(conn),
                root,
                hot: RwLock::default(),
                wal_index: None,
                parsed: Mutex::new(HashMap::new()),
                path: None,
            };
            store.migrate(version)?;
            Ok(store)
        }
    }
}
