//! The durable key store (docs/key-store.md): SQLite (WAL, `synchronous=FULL`), every mutation
//! one immediate transaction, key material sealed with AES-256-GCM under a storage root key kept
//! outside the database.

mod bindings;
mod data_keys;
mod hot;
mod hot_secrets;
mod root_key;
mod rows;
mod schema;
mod tx;
mod whitebox;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

pub(crate) use data_keys::DataKeyRow;
pub(crate) use hot::HotKey;
pub(crate) use hot_secrets::{HotDataKey, HotWhiteBoxKey};
pub use root_key::{ROOT_KEY_ENV, ROOT_KEY_FILE, RootKeySource};
pub(crate) use tx::{KeyRow, Tx};
pub(crate) use whitebox::WhiteBoxRow;

use hot::{HotKeys, ParsedCache, WalIndex};
use root_key::{RootKey, load_root_key};
use schema::SCHEMA_VERSION;

/// File name of the database inside a data directory.
pub const DB_FILE: &str = "kms.sqlite3";

/// Where the key store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A SQLite database in this directory (created if missing).
    Directory(PathBuf),
    /// Memory only; everything is lost when the [`crate::Hsm`] is dropped.
    InMemory,
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

fn internal(message: &str) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(message.to_owned().into())
}

/// Makes an SQLite database and its `-wal` and `-shm` files private (docs/key-store.md):
/// the database is created 0600 before SQLite opens it, SQLite gives the `-wal` and `-shm`
/// files it creates the database's mode, and files left by an older version are fixed.
pub(crate) fn private_database(path: &Path) -> std::io::Result<()> {
    kms_core::private_file::ensure(path)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        kms_core::private_file::restrict(Path::new(&side))?;
    }
    Ok(())
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
                private_database(&path)
                    .map_err(|e| OpenError::Database(format!("{}: {e}", path.display())))?;
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
        self.hot().clear();
        result
    }
}
