//! The database schema and its migrations, and the check that the root key opens this store.

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{OpenError, Store};
use crate::material::NONCE_LEN;

/// The newest schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = 6;

const ROOT_CHECK_AAD: &[u8] = b"tkms-root-key-check-v1";
const ROOT_CHECK_PLAINTEXT: &[u8] = b"tkms storage root key";

impl Store {
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

    pub(super) fn check_root_key(&self) -> Result<(), OpenError> {
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
    // 4: white-box keys (store/whitebox.rs).
    super::whitebox::WHITEBOX_SCHEMA,
    // 5: hosted data keys (store/data_keys.rs).
    super::data_keys::DATA_KEYS_SCHEMA,
    // 6: cloud-resource bindings (BindCloudResource); a resource uses at most one CMK.
    "CREATE TABLE cloud_bindings (
        key_id TEXT NOT NULL REFERENCES keys(key_id),
        product_id TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (product_id, resource_id)
     );
     CREATE INDEX cloud_bindings_by_key ON cloud_bindings (key_id);",
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;
    use std::sync::{Mutex, RwLock};

    use rusqlite::Connection;

    use super::*;
    use crate::store::{DB_FILE, RootKeySource, Storage, root_key::load_root_key};

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
