//! Key lifecycle: CreateKey, DescribeKey(s), ListKeys/ListKeyDetail, UpdateAlias,
//! UpdateKeyDescription, EnableKey(s)/DisableKey(s), ScheduleKeyDeletion, CancelKeyDeletion,
//! ArchiveKey, CancelKeyArchive.

use super::bindings::refuse_if_bound;
use super::rules::{
    check_alias, check_description, check_id_list, check_key_id, check_tags, not_found,
    state_not_supported, tags_match,
};
use super::types::{Accept, KeyState, KeyUsage, Origin};
use super::{DAY, Hsm, HsmError, Scope};
use crate::material::Material;
use crate::store::KeyRow;

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

impl KeyFilter {
    pub(super) fn matches(&self, key: &KeyInfo) -> bool {
        let row = &key.row;
        let state_ok = self.key_state.accepts(&row.key_state);
        let search_ok = self
            .search
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|s| row.key_id.contains(s) || row.alias.contains(s));
        let origin_ok = self.origin.accepts(&row.origin);
        let usage_ok = self.key_usage.accepts(&row.key_usage);
        let tags_ok = tags_match(&self.tag_filters, &key.tags);
        state_ok && search_ok && origin_ok && usage_ok && tags_ok
    }
}

impl Hsm {
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
                    (KeyState::Enabled, false) => {
                        refuse_if_bound(tx, &row)?;
                        row.key_state = KeyState::Disabled;
                    }
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
        self.mutate(scope, key_id, |tx, row, now| {
            refuse_if_bound(tx, row)?;
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
        self.mutate(scope, key_id, |tx, row, _| {
            match (row.key_state, archive) {
                (KeyState::Enabled, true) => {
                    refuse_if_bound(tx, row)?;
                    row.key_state = KeyState::Archived;
                }
                (KeyState::Archived, false) => row.key_state = KeyState::Enabled,
                _ => return Err(state_not_supported(row)),
            }
            Ok(())
        })
    }
}
