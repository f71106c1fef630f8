//! Hosted data keys in the store (docs/key-store.md): one row per data key with its metadata,
//! the CiphertextBlob KMS answers for it, and the data key itself sealed under the root key
//! (AES-256-GCM, bound to the data key's id and CMK), never in the clear.

use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use super::rows::{StoredRow, typed};
use super::{Tx, internal};
use crate::hsm::{KeyState, Origin};

/// Migration 4: the hosted data keys and their tags.
pub(super) const DATA_KEYS_SCHEMA: &str = "CREATE TABLE data_keys (
        data_key_id TEXT PRIMARY KEY,
        account_uin INTEGER NOT NULL,
        region TEXT NOT NULL,
        key_id TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        number_of_bytes INTEGER NOT NULL,
        key_state TEXT NOT NULL,
        origin TEXT NOT NULL,
        create_time INTEGER NOT NULL,
        deletion_date INTEGER NOT NULL,
        ciphertext_blob TEXT NOT NULL,
        nonce BLOB NOT NULL,
        sealed BLOB NOT NULL,
        UNIQUE (account_uin, region, name)
     );
     CREATE INDEX data_keys_by_scope ON data_keys (account_uin, region, create_time);
     CREATE TABLE data_key_tags (
        data_key_id TEXT NOT NULL REFERENCES data_keys(data_key_id),
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (data_key_id, tag_key)
     );";

const DATA_KEY_AAD_LABEL: &[u8] = b"tkms-data-key-v1\0";

/// One hosted data key's metadata (the key itself stays sealed in its row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DataKeyRow {
    pub(crate) data_key_id: String,
    pub(crate) account_uin: u64,
    pub(crate) region: String,
    /// The CMK that protects it.
    pub(crate) key_id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) number_of_bytes: u32,
    /// Enabled, Disabled or PendingDelete (the only data-key states).
    pub(crate) key_state: KeyState,
    pub(crate) origin: Origin,
    pub(crate) create_time: u64,
    pub(crate) deletion_date: u64,
    /// The data key under its CMK, as GenerateDataKey answered it (decryptable by Decrypt).
    pub(crate) ciphertext_blob: String,
}

const COLUMNS: &str = "data_key_id, account_uin, region, key_id, name, description, number_of_bytes, \
     key_state, origin, create_time, deletion_date, ciphertext_blob";

impl StoredRow for DataKeyRow {
    const TABLE: &'static str = "data_keys";
    const ID: &'static str = "data_key_id";
    const COLUMNS: &'static str = COLUMNS;

    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            data_key_id: r.get(0)?,
            account_uin: r.get::<_, i64>(1)? as u64,
            region: r.get(2)?,
            key_id: r.get(3)?,
            name: r.get(4)?,
            description: r.get(5)?,
            number_of_bytes: r.get::<_, i64>(6)? as u32,
            key_state: typed(r, 7, KeyState::parse, "data key state")?,
            origin: typed(r, 8, Origin::parse, "data key origin")?,
            create_time: r.get::<_, i64>(9)? as u64,
            deletion_date: r.get::<_, i64>(10)? as u64,
            ciphertext_blob: r.get(11)?,
        })
    }
}

/// The sealed key is bound to its id and CMK: a row's material cannot be moved to another.
fn aad(data_key_id: &str, key_id: &str) -> Vec<u8> {
    let mut aad = DATA_KEY_AAD_LABEL.to_vec();
    aad.extend_from_slice(data_key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

impl Tx<'_> {
    /// A data key of the scope, whatever its deletion date.
    pub(crate) fn data_key(
        &self,
        account_uin: u64,
        region: &str,
        data_key_id: &str,
    ) -> rusqlite::Result<Option<DataKeyRow>> {
        self.row_in_scope(account_uin, region, data_key_id)
    }

    /// The CMK of a data key, by id alone (what CAM judges a data-key call on).
    pub(crate) fn data_key_cmk(&self, data_key_id: &str) -> rusqlite::Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT key_id FROM data_keys WHERE data_key_id = ?1")?
            .query_row([data_key_id], |r| r.get(0))
            .optional()
    }

    /// Every data key of a scope, oldest first.
    pub(crate) fn data_keys_in_scope(
        &self,
        account_uin: u64,
        region: &str,
    ) -> rusqlite::Result<Vec<DataKeyRow>> {
        self.rows_in_scope(account_uin, region)
    }

    /// How many data keys a scope holds (every state: they all count against the limit).
    pub(crate) fn count_data_keys(&self, account_uin: u64, region: &str) -> rusqlite::Result<u64> {
        self.tx
            .prepare_cached(
                "SELECT count(*) FROM data_keys WHERE account_uin = ?1 AND region = ?2",
            )?
            .query_row(params![account_uin as i64, region], |r| {
                r.get::<_, i64>(0).map(|n| n as u64)
            })
    }

    pub(crate) fn data_key_name_taken(
        &self,
        account_uin: u64,
        region: &str,
        name: &str,
        except: &str,
    ) -> rusqlite::Result<bool> {
        self.tx
            .prepare_cached(
                "SELECT 1 FROM data_keys WHERE account_uin = ?1 AND region = ?2 AND name = ?3 AND data_key_id != ?4",
            )?
            .exists(params![account_uin as i64, region, name, except])
    }

    /// Stores a new data key, sealing `material` under the root key.
    pub(crate) fn insert_data_key(&self, k: &DataKeyRow, material: &[u8]) -> rusqlite::Result<()> {
        let (nonce, sealed) = self
            .store
            .root
            .seal(&aad(&k.data_key_id, &k.key_id), material)?;
        self.tx.execute(
            &format!("INSERT INTO data_keys ({COLUMNS}, nonce, sealed) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"),
            params![
                k.data_key_id,
                k.account_uin as i64,
                k.region,
                k.key_id,
                k.name,
                k.description,
                k.number_of_bytes as i64,
                k.key_state.as_str(),
                k.origin.as_str(),
                k.create_time as i64,
                k.deletion_date as i64,
                k.ciphertext_blob,
                &nonce[..],
                sealed
            ],
        )?;
        Ok(())
    }

    /// Writes a data key's changeable fields (name, description, state, deletion date).
    pub(crate) fn update_data_key(&self, k: &DataKeyRow) -> rusqlite::Result<()> {
        self.tx.execute(
            "UPDATE data_keys SET name = ?2, description = ?3, key_state = ?4, deletion_date = ?5 WHERE data_key_id = ?1",
            params![
                k.data_key_id,
                k.name,
                k.description,
                k.key_state.as_str(),
                k.deletion_date as i64
            ],
        )?;
        Ok(())
    }

    /// The data key itself, opened with the root key.
    pub(crate) fn data_key_material(
        &self,
        k: &DataKeyRow,
    ) -> rusqlite::Result<Option<Zeroizing<Vec<u8>>>> {
        let sealed: Option<(Vec<u8>, Vec<u8>)> = self
            .tx
            .prepare_cached("SELECT nonce, sealed FROM data_keys WHERE data_key_id = ?1")?
            .query_row([&k.data_key_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((nonce, sealed)) = sealed else {
            return Ok(None);
        };
        self.store
            .root
            .open(&aad(&k.data_key_id, &k.key_id), &nonce, &sealed)
            .map(Some)
            .ok_or_else(|| internal("stored data key failed authentication"))
    }

    /// Destroys data keys whose deletion date has passed; returns how many.
    pub(crate) fn delete_due_data_keys(&self, now: u64) -> rusqlite::Result<usize> {
        let due = "SELECT data_key_id FROM data_keys WHERE key_state = ?1 AND deletion_date <= ?2";
        let state = KeyState::PendingDelete.as_str();
        self.tx.execute(
            &format!("DELETE FROM data_key_tags WHERE data_key_id IN ({due})"),
            params![state, now as i64],
        )?;
        self.tx.execute(
            "DELETE FROM data_keys WHERE key_state = ?1 AND deletion_date <= ?2",
            params![state, now as i64],
        )
    }

    pub(crate) fn data_key_tags(
        &self,
        data_key_id: &str,
    ) -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT tag_key, tag_value FROM data_key_tags WHERE data_key_id = ?1 ORDER BY tag_key",
        )?;
        stmt.query_map([data_key_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    pub(crate) fn insert_data_key_tag(
        &self,
        data_key_id: &str,
        tag_key: &str,
        tag_value: &str,
    ) -> rusqlite::Result<()> {
        self.tx.execute(
            "INSERT INTO data_key_tags (data_key_id, tag_key, tag_value) VALUES (?1, ?2, ?3)",
            params![data_key_id, tag_key, tag_value],
        )?;
        Ok(())
    }

    /// Deletes every data key (test controls' reset).
    pub(crate) fn wipe_data_keys(&self) -> rusqlite::Result<()> {
        self.tx
            .execute_batch("DELETE FROM data_key_tags; DELETE FROM data_keys;")
    }
}
