//! The in-memory key caches: keys ready to use while the database is unchanged (checked through
//! SQLite's wal-index) - symmetric CMKs here, hosted data keys and white-box keys in
//! `hot_secrets.rs` - and parsed asymmetric keys.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, RwLockWriteGuard};

use kms_core::internal::AeadKey;
use rusqlite::{Connection, TransactionBehavior};

use super::hot_secrets::{HotDataKey, HotWhiteBoxKey};
use super::{KeyRow, Store, Tx, internal};
use crate::material::{Algorithm, NONCE_LEN, ParsedKey, symmetric_key};

/// Parsed private keys by (key id, version), with the nonce of the sealed row they came from.
pub(super) type ParsedCache = HashMap<(String, u32), ([u8; NONCE_LEN], Arc<ParsedKey>)>;

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
        if self.row.algorithm == Algorithm::Sm4 {
            // Refused SM4 (table-based backend only, no opt-in): the error names the setting.
            kms_core::aead::sm4_selection().map_err(|refused| internal(&refused.to_string()))?;
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

/// Most entries of one kind (CMKs, data keys, white-box keys) kept in memory at once: beyond
/// it, that kind starts over. A cap rather than an LRU: a hit then takes only the read lock,
/// where an LRU would write its order on every call; and a store rarely holds more keys than
/// this (data keys are limited to 1000 and white-box keys to 50 per account and region), so
/// starting over is rare. At most about 10,000 x 1 KiB for data keys.
const MAX_HOT_KEYS: usize = 10_000;

/// Entries of one kind by id.
pub(super) type Shelf<T> = HashMap<String, Arc<T>>;

/// Keys read from the database, kept while it is unchanged: `data_version` is SQLite's
/// `PRAGMA data_version` of the snapshot they came from, which moves whenever another connection
/// (another process, the audit writer) commits; this store's own writes clear the cache.
#[derive(Default)]
pub(super) struct HotKeys {
    data_version: Option<i64>,
    /// A wal-index header and the `data_version` computed after it was read: while the header
    /// is the same, no connection has committed, so `data_version` still holds.
    unchanged_since: Option<WalIndexHeader>,
    keys: Shelf<HotKey>,
    pub(super) data_keys: Shelf<HotDataKey>,
    pub(super) whitebox: Shelf<HotWhiteBoxKey>,
}

/// A kind of entry the cache keeps: where its shelf is, and the scope it belongs to.
pub(super) trait Hot: Sized {
    fn shelf(hot: &HotKeys) -> &Shelf<Self>;
    fn shelf_mut(hot: &mut HotKeys) -> &mut Shelf<Self>;
    /// Its account and region.
    fn scope(&self) -> (u64, &str);
}

impl Hot for HotKey {
    fn shelf(hot: &HotKeys) -> &Shelf<Self> {
        &hot.keys
    }
    fn shelf_mut(hot: &mut HotKeys) -> &mut Shelf<Self> {
        &mut hot.keys
    }
    fn scope(&self) -> (u64, &str) {
        (self.row.account_uin, &self.row.region)
    }
}

/// The first copy of SQLite's wal-index header (https://sqlite.org/walformat.html).
type WalIndexHeader = [u8; 48];

/// SQLite's wal-index (the `-shm` file beside a WAL database), read for one fact: whether any
/// connection has committed. Every commit rewrites its header (`iChange` counts commits), so an
/// unchanged header means an unchanged database; reading it is one `pread`, where
/// `PRAGMA data_version` takes the connection and two `fcntl` locks. Only ever a shortcut: any
/// doubt (no file, a header being written) falls back to `data_version`.
pub(super) struct WalIndex(fs::File);

impl WalIndex {
    pub(super) fn open(database: &Path) -> Option<Self> {
        let mut name = database.as_os_str().to_owned();
        name.push("-shm");
        fs::File::open(name).ok().map(Self)
    }

    /// The header, when it is initialised and its two copies agree (a writer updates the second
    /// copy, then the first).
    pub(super) fn header(&self) -> Option<WalIndexHeader> {
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
            self.clear();
            self.data_version = Some(data_version);
        }
    }

    /// Drops every entry (the store's own writes).
    pub(super) fn clear(&mut self) {
        self.keys.clear();
        self.data_keys.clear();
        self.whitebox.clear();
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

impl Store {
    pub(super) fn hot(&self) -> RwLockWriteGuard<'_, HotKeys> {
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
        let usable = |key: &HotKey| key.has_versions(also);
        self.through_cache(account_uin, region, key_id, usable, |tx, prior| {
            let Some(row) = tx.key(account_uin, region, key_id)? else {
                return Ok(None);
            };
            if row.algorithm.symmetric_len().is_none() {
                return Ok(None);
            }
            // Versions already loaded in this state of the database are still good.
            let mut key = HotKey {
                row,
                versions: prior.map(|p| p.versions.clone()).unwrap_or_default(),
            };
            key.load_versions(tx, also)?;
            Ok(Some(key))
        })
    }

    /// The entry `id` of a scope, from memory while nothing has been committed since it was read
    /// and it is `usable`; else `load`ed in a read transaction, which is given the entry this
    /// state of the database already has (one not `usable`), and kept.
    ///
    /// The one rule of every kind of entry: an entry is good while the database is unchanged.
    /// On a hit this costs one read of the wal-index header, without the connection.
    pub(super) fn through_cache<T: Hot>(
        &self,
        account_uin: u64,
        region: &str,
        id: &str,
        usable: impl Fn(&T) -> bool,
        load: impl FnOnce(&Tx<'_>, Option<Arc<T>>) -> rusqlite::Result<Option<T>>,
    ) -> rusqlite::Result<Option<Arc<T>>> {
        let in_scope = |entry: &&Arc<T>| entry.scope() == (account_uin, region);
        let found = |hot: &HotKeys| T::shelf(hot).get(id).filter(in_scope).cloned();
        let cached = |hot: &HotKeys| found(hot).filter(|entry| usable(entry));
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
                && let Some(entry) = cached(&hot)
            {
                return Ok(Some(entry));
            }
        }
        let mut conn = self.lock();
        let current = data_version(&conn)?;
        let prior = {
            let mut hot = self.hot();
            hot.advance(current);
            hot.unchanged_since = header;
            if let Some(entry) = cached(&hot) {
                return Ok(Some(entry));
            }
            found(&hot)
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        // Inside the transaction, `PRAGMA data_version` starts its read snapshot (tested below):
        // everything `load` reads is of this version, which a commit since `current` may have
        // moved (then `prior` is of another state and is not offered).
        let snapshot = data_version(&tx)?;
        let view = Tx {
            tx: &tx,
            store: self,
        };
        let Some(entry) = load(&view, prior.filter(|_| snapshot == current))? else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        tx.finish()?;
        // Still under the connection lock: no other call stores entries in between.
        let mut hot = self.hot();
        hot.advance(snapshot);
        let shelf = T::shelf_mut(&mut hot);
        if shelf.len() >= MAX_HOT_KEYS {
            shelf.clear();
        }
        shelf.insert(id.to_owned(), Arc::clone(&entry));
        Ok(Some(entry))
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

    /// Drops every cached parsed key (after a reset).
    pub(crate) fn clear_cache(&self) {
        self.parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RootKeySource, Storage};

    /// [`Store::through_cache`] labels what it loads with the `data_version` read first in its
    /// transaction: that read must start the transaction's snapshot.
    #[test]
    fn data_version_starts_the_snapshot_of_a_read_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Directory(dir.path().to_path_buf());
        let store = Store::open(&storage, &RootKeySource::Default).unwrap();
        let other = Store::open(&storage, &RootKeySource::Default).unwrap();
        let late = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM meta WHERE name = 'late'", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let mut conn = store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .unwrap();
        let snapshot = data_version(&tx).unwrap();
        other
            .write(|tx| {
                tx.tx
                    .execute("INSERT INTO meta (name, value) VALUES ('late', x'00')", [])
            })
            .unwrap();
        assert_eq!(
            late(&tx),
            0,
            "a commit after the pragma is not in the snapshot"
        );
        assert_eq!(data_version(&tx).unwrap(), snapshot);
        tx.finish().unwrap();
        assert_eq!(late(&conn), 1);
        assert_ne!(data_version(&conn).unwrap(), snapshot);
    }

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
}
