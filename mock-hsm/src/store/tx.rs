//! Transactions over the key store: key rows and their SQL mapping, versions (sealed with the
//! root key), tags and import tokens.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};

use super::root_key::{material_aad, token_aad};
use super::rows::{StoredRow, typed};
use super::{Store, internal};
use crate::hsm::{KeyState, KeyUsage, Origin};
use crate::material::{Algorithm, Material, ParsedKey};

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

impl StoredRow for KeyRow {
    const TABLE: &'static str = "keys";
    const ID: &'static str = "key_id";
    const COLUMNS: &'static str = KEY_COLUMNS;

    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
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
}

/// An import token's stored parameters.
pub(crate) struct ImportToken {
    pub(crate) key_id: String,
    pub(crate) algorithm: String,
    pub(crate) valid_to: u64,
    /// `None` once the token expired and its wrapping key was erased.
    pub(crate) private_key: Option<Material>,
}
/// An import token row: key id, algorithm, valid to, nonce, sealed private key.
type TokenRow = (String, String, i64, Vec<u8>, Vec<u8>);

/// A transaction with the store's root key at hand.
pub(crate) struct Tx<'a> {
    pub(super) tx: &'a Transaction<'a>,
    pub(super) store: &'a Store,
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
        self.row_in_scope(account_uin, region, key_id)
    }

    pub(crate) fn key_by_id(&self, key_id: &str) -> rusqlite::Result<Option<KeyRow>> {
        self.row_by_id(key_id)
    }

    /// Every key in a scope, oldest first.
    pub(crate) fn keys_in_scope(
        &self,
        account_uin: u64,
        region: &str,
    ) -> rusqlite::Result<Vec<KeyRow>> {
        self.rows_in_scope(account_uin, region)
    }

    /// Every key, oldest first.
    pub(crate) fn all_keys(&self) -> rusqlite::Result<Vec<KeyRow>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM keys ORDER BY create_time, rowid"
        ))?;
        stmt.query_map([], KeyRow::from_row)?.collect()
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
            KeyRow::from_row,
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
            .execute("DELETE FROM cloud_bindings WHERE key_id = ?1", [key_id])?;
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

    pub(super) fn sealed_version(
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
        self.tags_in("tags", key_id)
    }

    pub(crate) fn insert_tag(
        &self,
        key_id: &str,
        tag_key: &str,
        tag_value: &str,
    ) -> rusqlite::Result<()> {
        self.insert_tag_in("tags", key_id, tag_key, tag_value)
    }

    /// A key's tags from `table` (`tags`, or another family's table of the same columns).
    pub(super) fn tags_in(
        &self,
        table: &'static str,
        key_id: &str,
    ) -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT tag_key, tag_value FROM {table} WHERE key_id = ?1 ORDER BY tag_key"
        ))?;
        stmt.query_map([key_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    pub(super) fn insert_tag_in(
        &self,
        table: &'static str,
        key_id: &str,
        tag_key: &str,
        tag_value: &str,
    ) -> rusqlite::Result<()> {
        self.tx.execute(
            &format!("INSERT INTO {table} (key_id, tag_key, tag_value) VALUES (?1, ?2, ?3)"),
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
        let private_key = if sealed.is_empty() {
            None
        } else {
            Some(
                self.store
                    .root
                    .open(&token_aad(token_id), &nonce, &sealed)
                    .map(Material::new)
                    .ok_or_else(|| internal("stored import key failed authentication"))?,
            )
        };
        Ok(Some(ImportToken {
            key_id,
            algorithm,
            valid_to: valid_to as u64,
            private_key,
        }))
    }

    /// Erases the wrapping keys of tokens past their ParametersValidTo, keeping the token ids
    /// so a late ImportKeyMaterial is told TokenExpired; forgets ids that expired before
    /// `forget_before`.
    pub(crate) fn expire_tokens(&self, now: u64, forget_before: u64) -> rusqlite::Result<()> {
        self.tx.execute(
            "UPDATE import_tokens SET nonce = x'', sealed = x'' WHERE valid_to < ?1 AND length(sealed) > 0",
            [now as i64],
        )?;
        self.tx.execute(
            "DELETE FROM import_tokens WHERE valid_to < ?1",
            [forget_before as i64],
        )?;
        Ok(())
    }

    /// Deletes every key and token (test controls).
    pub(crate) fn wipe(&self) -> rusqlite::Result<()> {
        self.wipe_data_keys()?;
        self.tx.execute_batch("DELETE FROM key_versions; DELETE FROM tags; DELETE FROM import_tokens; DELETE FROM cloud_bindings; DELETE FROM keys;")
    }
}
