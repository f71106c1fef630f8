//! Hosted data keys (docs/serve.md, "Hosted data keys"): GenerateDataKey with IsHostedByKms=1,
//! ImportDataKey, DescribeDataKey(s), ListDataKeys/ListDataKeyDetail, Enable/DisableDataKey(s),
//! Schedule/CancelDataKeyDeletion, UpdateDataKeyName/Description, GetDataKeyPlaintext and
//! GetDataKeyCiphertextBlob.
//!
//! A data key follows its CMK: GetDataKeyPlaintext asks the CMK's state with
//! [`KeyOperation::GetDataKeyPlaintext`] (kms-core's one table), so a disabled, archived,
//! pending-deletion or deleted CMK refuses it with that CMK's code. The data key is stored
//! sealed under the root key (store/data_keys.rs); its PendingDelete window runs out on the
//! service clock and the maintenance tick destroys it, as it destroys CMKs. The calls that
//! hand out the data key itself are in `datakeys/serve.rs`.

mod serve;

use super::rules::past_deletion_date;
use kms_core::kms::KeyOperation;
use zeroize::Zeroizing;

use super::rules::{
    canonical_context, check_key_id, check_tags, is_name, is_valid_key_id, tags_match,
};
use super::types::{Accept, KeyState, Origin};
use super::{DAY, Hsm, HsmError, Scope, state_refusal};
use crate::blob::Blob;
use crate::store::{DataKeyRow, Tx};

/// Hosted data keys one account may keep per region unless the config says otherwise.
pub(crate) const DEFAULT_DATA_KEY_LIMIT: u64 = 1000;
/// Longest data key Description, in bytes (the SDK models: "最大100字节").
const MAX_DESCRIPTION: usize = 100;
/// Most ids one DescribeDataKeys / EnableDataKeys / DisableDataKeys call takes.
const MAX_IDS: usize = 100;
/// Data key lengths, as GenerateDataKey's NumberOfBytes.
const DATA_KEY_LEN: std::ops::RangeInclusive<usize> = 1..=1024;

/// Why a data-key call was refused on the data key itself.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataKeyError {
    #[error("DataKeyId must be a lower-case UUID such as 23e80852-1e38-11e9-b129-5cb9019b4b01")]
    InvalidId,
    #[error(
        "DataKeyName must be 1-60 letters, digits, '-' or '_', starting with a letter or digit"
    )]
    InvalidName,
    #[error("DataKeyName {0} is already in use")]
    NameExists(String),
    #[error("DataKeyId {0} appears twice")]
    Duplicated(String),
    #[error("DataKeyIds must hold 1 to 100 ids")]
    IdCount,
    #[error("data key {0} does not exist in this account and region")]
    NotFound(String),
    #[error("data key {0} is disabled")]
    Disabled(String),
    #[error("data key {0} is pending deletion")]
    PendingDelete(String),
    #[error("data key {id} in state {state} does not allow this action")]
    StateNotSupported { id: String, state: KeyState },
    #[error("data key {0} is not pending deletion")]
    NotPendingDelete(String),
    #[error("this account already keeps {0} hosted data keys in this region, the limit")]
    LimitExceeded(u64),
    #[error("ImportKeyMaterial {0}")]
    InvalidMaterial(&'static str),
}

impl DataKeyError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::InvalidId => "InvalidParameterValue.InvalidDataKeyId",
            Self::InvalidName => "InvalidParameterValue.InvalidDataKeyName",
            Self::NameExists(_) => "InvalidParameterValue.DataKeyNameAlreadyExists",
            Self::Duplicated(_) => "InvalidParameterValue.DuplicatedDataKeyId",
            Self::IdCount => "InvalidParameterValue",
            Self::NotFound(_) => "ResourceUnavailable.DataKeyNotFound",
            Self::Disabled(_) => "ResourceUnavailable.DataKeyDisabled",
            Self::PendingDelete(_) => "ResourceUnavailable.DataKeyPendingDelete",
            Self::StateNotSupported { .. } => "ResourceUnavailable.DataKeyStateNotSupport",
            Self::NotPendingDelete(_) => "ResourceUnavailable.DataKeyNotPendingDelete",
            Self::LimitExceeded(_) => "LimitExceeded.DataKeyLimitExceeded",
            Self::InvalidMaterial(_) => "InvalidParameterValue.InvalidImportKeyMaterial",
        }
    }
}

fn not_supported(row: &DataKeyRow) -> HsmError {
    DataKeyError::StateNotSupported {
        id: row.data_key_id.clone(),
        state: row.key_state,
    }
    .into()
}

/// The caller's part of a new hosted data key.
#[derive(Debug, Default)]
pub(crate) struct NewDataKey {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) tags: Vec<(String, String)>,
}

impl NewDataKey {
    fn check(&self) -> Result<(), HsmError> {
        check_name(&self.name)?;
        check_description(&self.description)?;
        check_tags(&self.tags)
    }
}

/// What ImportDataKey brings.
pub(crate) enum Imported<'a> {
    /// ImportType 1: a CiphertextBlob from GenerateDataKey (`None`: not one of ours), as sent.
    Ciphertext(Option<&'a Blob>, &'a str),
    /// ImportType 2: the data key in the clear.
    Plaintext(Zeroizing<Vec<u8>>),
}

/// A data key with its CMK's alias and its tags (DataKeyMetadata).
#[derive(Clone, Debug)]
pub(crate) struct DataKeyInfo {
    pub(crate) row: DataKeyRow,
    /// The CMK's alias (`KeyName`), empty once the CMK is gone.
    pub(crate) key_name: String,
    pub(crate) tags: Vec<(String, String)>,
}

/// Filters of ListDataKeyDetail.
#[derive(Debug, Default)]
pub(crate) struct DataKeyFilter {
    pub(crate) key_state: Accept<KeyState>,
    /// Part of the DataKeyId or DataKeyName.
    pub(crate) search: Option<String>,
    pub(crate) origin: Accept<Origin>,
    /// Only data keys of this CMK.
    pub(crate) key_id: Option<String>,
    pub(crate) number_of_bytes: Accept<u32>,
    pub(crate) tag_filters: Vec<(String, Vec<String>)>,
    pub(crate) ascending: bool,
}

impl DataKeyFilter {
    fn matches(&self, key: &DataKeyInfo) -> bool {
        let row = &key.row;
        let search_ok = self
            .search
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|s| row.data_key_id.contains(s) || row.name.contains(s));
        self.key_state.accepts(&row.key_state)
            && search_ok
            && self.origin.accepts(&row.origin)
            && self.key_id.as_deref().is_none_or(|id| id == row.key_id)
            && self.number_of_bytes.accepts(&row.number_of_bytes)
            && tags_match(&self.tag_filters, &key.tags)
    }
}

pub(super) fn check_data_key_id(id: &str) -> Result<(), HsmError> {
    if is_valid_key_id(id) {
        Ok(())
    } else {
        Err(DataKeyError::InvalidId.into())
    }
}

/// A data key name has an alias's shape ([`is_name`]); `kms-` is not reserved for it.
fn check_name(name: &str) -> Result<(), HsmError> {
    if is_name(name) {
        Ok(())
    } else {
        Err(DataKeyError::InvalidName.into())
    }
}

fn check_description(description: &str) -> Result<(), HsmError> {
    if description.len() > MAX_DESCRIPTION {
        return Err(HsmError::InvalidParameter(format!(
            "Description of a data key is at most {MAX_DESCRIPTION} bytes"
        )));
    }
    Ok(())
}

fn check_ids(ids: &[String]) -> Result<(), HsmError> {
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(DataKeyError::IdCount.into());
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        check_data_key_id(id)?;
        if !seen.insert(id) {
            return Err(DataKeyError::Duplicated(id.clone()).into());
        }
    }
    Ok(())
}

/// A data key of the scope that still exists at `now` (a passed deletion date destroys it,
/// whether or not the maintenance tick has run yet).
fn load(tx: &Tx<'_>, scope: Scope<'_>, id: &str, now: u64) -> Result<DataKeyRow, HsmError> {
    check_data_key_id(id)?;
    existing(
        id,
        tx.data_key(scope.uin, scope.region, id)?,
        |row| row,
        now,
    )
}

/// `found` (a data key, or what holds its row) unless it is missing or past its deletion date.
fn existing<T>(
    id: &str,
    found: Option<T>,
    row: impl Fn(&T) -> &DataKeyRow,
    now: u64,
) -> Result<T, HsmError> {
    found
        .filter(|key| {
            let row = row(key);
            !past_deletion_date(row.key_state, row.deletion_date, now)
        })
        .ok_or_else(|| DataKeyError::NotFound(id.to_owned()).into())
}

fn info(tx: &Tx<'_>, scope: Scope<'_>, row: DataKeyRow) -> Result<DataKeyInfo, HsmError> {
    let key_name = tx
        .key(scope.uin, scope.region, &row.key_id)?
        .map(|cmk| cmk.alias)
        .unwrap_or_default();
    let tags = tx.data_key_tags(&row.data_key_id)?;
    Ok(DataKeyInfo {
        row,
        key_name,
        tags,
    })
}

impl Hsm {
    /// GenerateDataKey with IsHostedByKms=1: the data key, its CiphertextBlob, and its new
    /// DataKeyId.
    pub(crate) fn generate_hosted_data_key(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        len: usize,
        context: Option<&str>,
        new: NewDataKey,
    ) -> Result<(Zeroizing<Vec<u8>>, String, String), HsmError> {
        new.check()?;
        let (data_key, blob) = self.generate_data_key(scope, key_id, len, context)?;
        let id = self.host(scope, key_id, &data_key, &blob, Origin::TencentKms, new)?;
        Ok((data_key, blob, id))
    }

    /// ImportDataKey: the CMK's id and the new DataKeyId. `key_id` is required for a data key
    /// in the clear and checked against the blob's CMK for a CiphertextBlob.
    pub(crate) fn import_data_key(
        &self,
        scope: Scope<'_>,
        imported: Imported<'_>,
        key_id: Option<&str>,
        new: NewDataKey,
    ) -> Result<(String, String), HsmError> {
        new.check()?;
        if let Some(id) = key_id {
            check_key_id(id)?;
        }
        let (cmk, material, blob) = match imported {
            Imported::Ciphertext(blob, text) => {
                let blob = blob.ok_or(DataKeyError::InvalidMaterial(
                    "is not a CiphertextBlob of this KMS",
                ))?;
                if key_id.is_some_and(|id| id != blob.key_id) {
                    return Err(DataKeyError::InvalidMaterial(
                        "was not made under the CMK KeyId names",
                    )
                    .into());
                }
                self.check_cmk_takes_data_keys(scope, &blob.key_id)?;
                // Hosted data keys have no EncryptionContext: a blob made with one is refused.
                let opened = self.decrypt(scope, Some(blob), None).map_err(|e| match e {
                    HsmError::InvalidCiphertext => DataKeyError::InvalidMaterial(
                        "does not open (made with an EncryptionContext, or damaged)",
                    )
                    .into(),
                    other => other,
                })?;
                (opened.key_id, opened.plaintext, text.to_owned())
            }
            Imported::Plaintext(material) => {
                let cmk = key_id.ok_or_else(|| {
                    HsmError::InvalidParameter(
                        "KeyId is required to import a data key in the clear (ImportType 2)".into(),
                    )
                })?;
                let no_context = canonical_context(None)?;
                let blob = self.with_hot_key(scope, cmk, None, |key| {
                    Self::encrypt_with(key, KeyOperation::GenerateDataKey, &material, &no_context)
                })?;
                (cmk.to_owned(), material, blob)
            }
        };
        if !DATA_KEY_LEN.contains(&material.len()) {
            return Err(
                DataKeyError::InvalidMaterial("must be a data key of 1 to 1024 bytes").into(),
            );
        }
        let id = self.host(scope, &cmk, &material, &blob, Origin::External, new)?;
        Ok((cmk, id))
    }

    /// A CMK may take a new data key when GenerateDataKey would be allowed on it.
    fn check_cmk_takes_data_keys(&self, scope: Scope<'_>, key_id: &str) -> Result<(), HsmError> {
        self.with_hot_key(scope, key_id, None, |key| {
            super::symmetric::check_symmetric(&key.row)?;
            match state_refusal(key_id, key.row.key_state, KeyOperation::GenerateDataKey) {
                Some(refusal) => Err(refusal),
                None => Ok(()),
            }
        })
    }

    /// Stores a new data key (after the limit and name checks) and returns its id.
    fn host(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        material: &[u8],
        blob: &str,
        origin: Origin,
        new: NewDataKey,
    ) -> Result<String, HsmError> {
        let now = self.now();
        let row = DataKeyRow {
            data_key_id: uuid::Uuid::new_v4().to_string(),
            account_uin: scope.uin,
            region: scope.region.to_owned(),
            key_id: key_id.to_owned(),
            name: new.name,
            description: new.description,
            number_of_bytes: material.len() as u32,
            key_state: KeyState::Enabled,
            origin,
            create_time: now,
            deletion_date: 0,
            ciphertext_blob: blob.to_owned(),
        };
        self.store.write(|tx| {
            tx.delete_due_data_keys(now)?;
            if tx.count_data_keys(scope.uin, scope.region)? >= self.data_key_limit {
                return Err(DataKeyError::LimitExceeded(self.data_key_limit).into());
            }
            if tx.data_key_name_taken(scope.uin, scope.region, &row.name, "")? {
                return Err(DataKeyError::NameExists(row.name.clone()).into());
            }
            tx.insert_data_key(&row, material)?;
            for (k, v) in &new.tags {
                tx.insert_data_key_tag(&row.data_key_id, k, v)?;
            }
            Ok::<_, HsmError>(())
        })?;
        Ok(row.data_key_id)
    }

    pub(crate) fn describe_data_key(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<DataKeyInfo, HsmError> {
        let now = self.now();
        self.store.read(|tx| {
            let row = load(tx, scope, id, now)?;
            info(tx, scope, row)
        })
    }

    pub(crate) fn describe_data_keys(
        &self,
        scope: Scope<'_>,
        ids: &[String],
    ) -> Result<Vec<DataKeyInfo>, HsmError> {
        check_ids(ids)?;
        let now = self.now();
        self.store.read(|tx| {
            ids.iter()
                .map(|id| info(tx, scope, load(tx, scope, id, now)?))
                .collect()
        })
    }

    /// Data keys of the scope passing `filter`, after due deletions, in creation order.
    pub(crate) fn list_data_keys(
        &self,
        scope: Scope<'_>,
        filter: &DataKeyFilter,
    ) -> Result<Vec<DataKeyInfo>, HsmError> {
        self.maintain_all()?;
        let mut keys = self.store.read(|tx| {
            if let Some(cmk) = &filter.key_id {
                self.load(tx, scope, cmk)?;
            }
            tx.data_keys_in_scope(scope.uin, scope.region)?
                .into_iter()
                .map(|row| info(tx, scope, row))
                .collect::<Result<Vec<_>, HsmError>>()
        })?;
        keys.retain(|k| filter.matches(k));
        if !filter.ascending {
            keys.reverse();
        }
        Ok(keys)
    }

    /// Hosted data keys of the scope (GetServiceStatus DataKeyUsedCount).
    pub(crate) fn data_key_count(&self, scope: Scope<'_>) -> Result<u64, HsmError> {
        let now = self.now();
        self.store.read(|tx| {
            let due = tx
                .data_keys_in_scope(scope.uin, scope.region)?
                .iter()
                .filter(|r| past_deletion_date(r.key_state, r.deletion_date, now))
                .count() as u64;
            Ok(tx.count_data_keys(scope.uin, scope.region)? - due)
        })
    }

    /// The most hosted data keys per account and region.
    pub(crate) fn data_key_limit(&self) -> u64 {
        self.data_key_limit
    }

    /// The CMK a data key belongs to, by id alone (what CAM judges a data-key call on).
    pub(crate) fn data_key_cmk(&self, id: &str) -> Option<String> {
        if !is_valid_key_id(id) {
            return None;
        }
        self.store.read(|tx| tx.data_key_cmk(id)).ok().flatten()
    }

    /// Runs `f` on each named data key in one write transaction (after due deletions) and
    /// stores them: all or nothing.
    fn mutate_data_keys<T>(
        &self,
        scope: Scope<'_>,
        ids: &[String],
        mut f: impl FnMut(&Tx<'_>, &mut DataKeyRow, u64) -> Result<T, HsmError>,
    ) -> Result<Vec<T>, HsmError> {
        let now = self.now();
        self.store.write(|tx| {
            tx.delete_due_data_keys(now)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let mut row = load(tx, scope, id, now)?;
                out.push(f(tx, &mut row, now)?);
                tx.update_data_key(&row)?;
            }
            Ok(out)
        })
    }

    fn mutate_data_key<T>(
        &self,
        scope: Scope<'_>,
        id: &str,
        f: impl FnOnce(&Tx<'_>, &mut DataKeyRow, u64) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        let mut f = Some(f);
        let mut out = self.mutate_data_keys(scope, &[id.to_owned()], |tx, row, now| {
            f.take().expect("one id, one call")(tx, row, now)
        })?;
        out.pop().ok_or(HsmError::Internal("data key update"))
    }

    /// EnableDataKey(s) / DisableDataKey(s). Enabling needs the CMK to exist and not be
    /// pending deletion; repeats are accepted silently.
    pub(crate) fn set_data_keys_enabled(
        &self,
        scope: Scope<'_>,
        ids: &[String],
        enable: bool,
    ) -> Result<(), HsmError> {
        check_ids(ids)?;
        self.mutate_data_keys(scope, ids, |tx, row, _| {
            match (row.key_state, enable) {
                (KeyState::Enabled, true) | (KeyState::Disabled, false) => {}
                (KeyState::Disabled, true) => {
                    let cmk = self.load(tx, scope, &row.key_id)?;
                    if cmk.key_state == KeyState::PendingDelete {
                        return Err(HsmError::state(&cmk.key_id, cmk.key_state));
                    }
                    row.key_state = KeyState::Enabled;
                }
                (KeyState::Enabled, false) => row.key_state = KeyState::Disabled,
                _ => return Err(not_supported(row)),
            }
            Ok(())
        })
        .map(drop)
    }

    /// ScheduleDataKeyDeletion: as for CMKs, only a Disabled data key may be scheduled
    /// (docs/serve.md: the safest reading).
    pub(crate) fn schedule_data_key_deletion(
        &self,
        scope: Scope<'_>,
        id: &str,
        days: u64,
    ) -> Result<u64, HsmError> {
        if !(7..=30).contains(&days) {
            return Err(HsmError::InvalidPendingWindow);
        }
        check_data_key_id(id)?;
        self.mutate_data_key(scope, id, |_, row, now| {
            if row.key_state != KeyState::Disabled {
                return Err(not_supported(row));
            }
            row.key_state = KeyState::PendingDelete;
            row.deletion_date = now + days * DAY;
            Ok(row.deletion_date)
        })
    }

    pub(crate) fn cancel_data_key_deletion(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<(), HsmError> {
        check_data_key_id(id)?;
        self.mutate_data_key(scope, id, |_, row, _| {
            if row.key_state != KeyState::PendingDelete {
                return Err(DataKeyError::NotPendingDelete(row.data_key_id.clone()).into());
            }
            row.key_state = KeyState::Disabled;
            row.deletion_date = 0;
            Ok(())
        })
    }

    pub(crate) fn update_data_key_name(
        &self,
        scope: Scope<'_>,
        id: &str,
        name: &str,
    ) -> Result<(), HsmError> {
        check_data_key_id(id)?;
        check_name(name)?;
        self.mutate_data_key(scope, id, |tx, row, _| {
            if row.key_state == KeyState::PendingDelete {
                return Err(not_supported(row));
            }
            if tx.data_key_name_taken(scope.uin, scope.region, name, &row.data_key_id)? {
                return Err(DataKeyError::NameExists(name.to_owned()).into());
            }
            row.name = name.to_owned();
            Ok(())
        })
    }

    pub(crate) fn update_data_key_description(
        &self,
        scope: Scope<'_>,
        id: &str,
        description: &str,
    ) -> Result<(), HsmError> {
        check_data_key_id(id)?;
        check_description(description)?;
        self.mutate_data_key(scope, id, |_, row, _| {
            if row.key_state == KeyState::PendingDelete {
                return Err(not_supported(row));
            }
            row.description = description.to_owned();
            Ok(())
        })
    }
}
