//! White-box keys in the store (docs/whitebox.md): their rows, their key sealed under the root
//! key like CMK material, their tags and device fingerprints.

use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use super::rows::{StoredRow, typed};
use super::{Tx, internal};
use crate::hsm::WhiteBoxStatus;
use crate::material::Algorithm;

/// Schema migration 4 of the key store.
pub(super) const WHITEBOX_SCHEMA: &str = "CREATE TABLE whitebox_keys (
        key_id TEXT PRIMARY KEY,
        account_uin INTEGER NOT NULL,
        region TEXT NOT NULL,
        alias TEXT NOT NULL,
        description TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        status TEXT NOT NULL,
        create_time INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        sealed BLOB NOT NULL,
        UNIQUE (account_uin, region, alias)
     );
     CREATE INDEX whitebox_by_scope ON whitebox_keys (account_uin, region, create_time);
     CREATE TABLE whitebox_tags (
        key_id TEXT NOT NULL REFERENCES whitebox_keys(key_id),
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
     );
     CREATE TABLE whitebox_fingerprints (
        key_id TEXT NOT NULL REFERENCES whitebox_keys(key_id),
        position INTEGER NOT NULL,
        identity TEXT NOT NULL,
        description TEXT NOT NULL,
        PRIMARY KEY (key_id, position)
     );";

/// Domain separation from CMK material: a white-box key is sealed under its own label.
const WHITEBOX_AAD_LABEL: &[u8] = b"tkms-whitebox-v1";

fn whitebox_aad(key_id: &str) -> Vec<u8> {
    let mut aad = WHITEBOX_AAD_LABEL.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

/// One white-box key's metadata row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WhiteBoxRow {
    pub(crate) key_id: String,
    pub(crate) account_uin: u64,
    pub(crate) region: String,
    pub(crate) alias: String,
    pub(crate) description: String,
    pub(crate) algorithm: Algorithm,
    pub(crate) status: WhiteBoxStatus,
    pub(crate) create_time: u64,
}

const COLUMNS: &str =
    "key_id, account_uin, region, alias, description, algorithm, status, create_time";

impl StoredRow for WhiteBoxRow {
    const TABLE: &'static str = "whitebox_keys";
    const ID: &'static str = "key_id";
    const COLUMNS: &'static str = COLUMNS;

    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            key_id: row.get(0)?,
            account_uin: row.get::<_, i64>(1)? as u64,
            region: row.get(2)?,
            alias: row.get(3)?,
            description: row.get(4)?,
            algorithm: typed(row, 5, Algorithm::from_name, "white-box algorithm")?,
            status: typed(row, 6, WhiteBoxStatus::parse, "white-box status")?,
            create_time: row.get::<_, i64>(7)? as u64,
        })
    }
}

impl Tx<'_> {
    /// A white-box key of this account and region.
    pub(crate) fn whitebox_key(
        &self,
        account_uin: u64,
        region: &str,
        key_id: &str,
    ) -> rusqlite::Result<Option<WhiteBoxRow>> {
        self.row_in_scope(account_uin, region, key_id)
    }

    /// A white-box key by id alone (ids are unique across accounts), for access decisions.
    pub(crate) fn whitebox_key_by_id(&self, key_id: &str) -> rusqlite::Result<Option<WhiteBoxRow>> {
        self.row_by_id(key_id)
    }

    /// Every white-box key of a scope, oldest first.
    pub(crate) fn whitebox_keys_in_scope(
        &self,
        account_uin: u64,
        region: &str,
    ) -> rusqlite::Result<Vec<WhiteBoxRow>> {
        self.rows_in_scope(account_uin, region)
    }

    pub(crate) fn whitebox_count(&self, account_uin: u64, region: &str) -> rusqlite::Result<u64> {
        self.tx.query_row(
            "SELECT count(*) FROM whitebox_keys WHERE account_uin = ?1 AND region = ?2",
            params![account_uin as i64, region],
            |r| r.get::<_, i64>(0).map(|n| n as u64),
        )
    }

    pub(crate) fn whitebox_alias_taken(
        &self,
        account_uin: u64,
        region: &str,
        alias: &str,
    ) -> rusqlite::Result<bool> {
        self.tx
            .query_row(
                "SELECT 1 FROM whitebox_keys WHERE account_uin = ?1 AND region = ?2 AND alias = ?3",
                params![account_uin as i64, region, alias],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
    }

    /// Stores a new key with its key sealed under the root key.
    pub(crate) fn insert_whitebox_key(&self, k: &WhiteBoxRow, key: &[u8]) -> rusqlite::Result<()> {
        let (nonce, sealed) = self.store.root.seal(&whitebox_aad(&k.key_id), key)?;
        self.tx.execute(
            &format!("INSERT INTO whitebox_keys ({COLUMNS}, nonce, sealed) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"),
            params![
                k.key_id,
                k.account_uin as i64,
                k.region,
                k.alias,
                k.description,
                k.algorithm.name(),
                k.status.as_str(),
                k.create_time as i64,
                &nonce[..],
                sealed,
            ],
        )?;
        Ok(())
    }

    /// A white-box key's key, opened with the root key.
    pub(crate) fn whitebox_secret(&self, key_id: &str) -> rusqlite::Result<Zeroizing<Vec<u8>>> {
        let (nonce, sealed): (Vec<u8>, Vec<u8>) = self.tx.query_row(
            "SELECT nonce, sealed FROM whitebox_keys WHERE key_id = ?1",
            [key_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        self.store
            .root
            .open(&whitebox_aad(key_id), &nonce, &sealed)
            .ok_or_else(|| {
                internal(
                    "stored white-box key failed authentication (wrong root key or corruption)",
                )
            })
    }

    pub(crate) fn set_whitebox_status(
        &self,
        key_id: &str,
        status: WhiteBoxStatus,
    ) -> rusqlite::Result<()> {
        self.tx.execute(
            "UPDATE whitebox_keys SET status = ?2 WHERE key_id = ?1",
            params![key_id, status.as_str()],
        )?;
        Ok(())
    }

    /// Removes a key with its sealed key, tags and fingerprints.
    pub(crate) fn delete_whitebox_key(&self, key_id: &str) -> rusqlite::Result<()> {
        for table in ["whitebox_fingerprints", "whitebox_tags", "whitebox_keys"] {
            self.tx
                .execute(&format!("DELETE FROM {table} WHERE key_id = ?1"), [key_id])?;
        }
        Ok(())
    }

    pub(crate) fn whitebox_tags(&self, key_id: &str) -> rusqlite::Result<Vec<(String, String)>> {
        self.tags_in("whitebox_tags", key_id)
    }

    pub(crate) fn insert_whitebox_tag(
        &self,
        key_id: &str,
        tag_key: &str,
        tag_value: &str,
    ) -> rusqlite::Result<()> {
        self.insert_tag_in("whitebox_tags", key_id, tag_key, tag_value)
    }

    /// A key's device fingerprints (identity, description) in the order they were given.
    pub(crate) fn whitebox_fingerprints(
        &self,
        key_id: &str,
    ) -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT identity, description FROM whitebox_fingerprints WHERE key_id = ?1 ORDER BY position",
        )?;
        stmt.query_map([key_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    /// Replaces a key's device fingerprints.
    pub(crate) fn replace_whitebox_fingerprints(
        &self,
        key_id: &str,
        fingerprints: &[(String, String)],
    ) -> rusqlite::Result<()> {
        self.tx.execute(
            "DELETE FROM whitebox_fingerprints WHERE key_id = ?1",
            [key_id],
        )?;
        for (position, (identity, description)) in fingerprints.iter().enumerate() {
            self.tx.execute(
                "INSERT INTO whitebox_fingerprints (key_id, position, identity, description) VALUES (?1, ?2, ?3, ?4)",
                params![key_id, position as i64, identity, description],
            )?;
        }
        Ok(())
    }

    /// Deletes every white-box key (test controls).
    pub(crate) fn wipe_whitebox(&self) -> rusqlite::Result<()> {
        self.tx.execute_batch(
            "DELETE FROM whitebox_fingerprints; DELETE FROM whitebox_tags; DELETE FROM whitebox_keys;",
        )
    }
}
