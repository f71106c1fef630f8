//! Hosted data keys and white-box keys in the in-memory cache (docs/key-store.md): their rows
//! with their keys unsealed, kept under the CMKs' rule (good while the database is unchanged,
//! [`Store::through_cache`]). The cache holds rows and material, never decisions: callers judge
//! the row's state, deletion date and CMK on every call, as they would a row just read.

use std::sync::Arc;

use super::hot::{Hot, HotKeys, Shelf};
use super::{DataKeyRow, Store, WhiteBoxRow, internal};
use crate::hsm::CbcKey;
use crate::material::{CryptoFailure, Material};

/// A hosted data key: its row and the data key itself.
pub(crate) struct HotDataKey {
    pub(crate) row: DataKeyRow,
    material: Material,
}

impl HotDataKey {
    pub(crate) fn material(&self) -> &Material {
        &self.material
    }
}

/// A white-box key: its row, its key (for the encoded keys the Describe actions hand out) and
/// its key schedule, done once. The schedule is a `Result` because building it can fail where
/// reading the key does not (SM4 on a CPU with only the refused table-based backend): a call that
/// does not encrypt must not fail for it.
pub(crate) struct HotWhiteBoxKey {
    pub(crate) row: WhiteBoxRow,
    secret: Material,
    cipher: Result<CbcKey, CryptoFailure>,
}

impl HotWhiteBoxKey {
    pub(crate) fn secret(&self) -> &Material {
        &self.secret
    }

    pub(crate) fn cipher(&self) -> Result<&CbcKey, CryptoFailure> {
        self.cipher.as_ref().map_err(|e| *e)
    }
}

impl Hot for HotDataKey {
    fn shelf(hot: &HotKeys) -> &Shelf<Self> {
        &hot.data_keys
    }
    fn shelf_mut(hot: &mut HotKeys) -> &mut Shelf<Self> {
        &mut hot.data_keys
    }
    fn scope(&self) -> (u64, &str) {
        (self.row.account_uin, &self.row.region)
    }
}

impl Hot for HotWhiteBoxKey {
    fn shelf(hot: &HotKeys) -> &Shelf<Self> {
        &hot.whitebox
    }
    fn shelf_mut(hot: &mut HotKeys) -> &mut Shelf<Self> {
        &mut hot.whitebox
    }
    fn scope(&self) -> (u64, &str) {
        (self.row.account_uin, &self.row.region)
    }
}

impl Store {
    /// The data key `data_key_id` of a scope with its key, whatever its state and deletion date
    /// (as `Tx::data_key`); from memory while the database is unchanged.
    pub(crate) fn hot_data_key(
        &self,
        account_uin: u64,
        region: &str,
        data_key_id: &str,
    ) -> rusqlite::Result<Option<Arc<HotDataKey>>> {
        self.through_cache(
            account_uin,
            region,
            data_key_id,
            |_| true,
            |tx, _| {
                let Some(row) = tx.data_key(account_uin, region, data_key_id)? else {
                    return Ok(None);
                };
                let material = tx
                    .data_key_material(&row)?
                    .ok_or_else(|| internal("loading the data key"))?;
                Ok(Some(HotDataKey {
                    row,
                    material: Material::new(material),
                }))
            },
        )
    }

    /// The white-box key `key_id` of a scope with its key, whatever its status; from memory
    /// while the database is unchanged.
    pub(crate) fn hot_whitebox_key(
        &self,
        account_uin: u64,
        region: &str,
        key_id: &str,
    ) -> rusqlite::Result<Option<Arc<HotWhiteBoxKey>>> {
        self.through_cache(
            account_uin,
            region,
            key_id,
            |_| true,
            |tx, _| {
                let Some(row) = tx.whitebox_key(account_uin, region, key_id)? else {
                    return Ok(None);
                };
                let secret = Material::new(tx.whitebox_secret(&row.key_id)?);
                let cipher = CbcKey::new(row.algorithm, secret.expose_secret());
                Ok(Some(HotWhiteBoxKey {
                    row,
                    secret,
                    cipher,
                }))
            },
        )
    }
}
