//! White-box keys (docs/whitebox.md): CreateWhiteBoxKey, DescribeWhiteBoxKey(Details),
//! DescribeWhiteBoxDecryptKey, Enable/DisableWhiteBoxKey(s), DeleteWhiteBoxKey,
//! EncryptByWhiteBox and the device fingerprints. A family of its own: the keys live in their
//! own tables, have two states (Enabled, Disabled) and no versions or schedules.

mod cipher;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::rules::{
    check_alias, check_description, check_id_list, check_key_id, check_tags, tags_match,
};
use super::{Hsm, HsmError, Scope};
use crate::material::{Algorithm, random_bytes};
use crate::store::{HotWhiteBoxKey, Tx, WhiteBoxRow};
use cipher::Role;
pub(crate) use cipher::{CbcKey, IV_LEN};

/// Most white-box keys per account and region (docs/kms-api.md §5.1, the SDK's CreateWhiteBoxKey).
pub(crate) const WHITEBOX_KEY_LIMIT: u64 = 50;
/// Most ids in one Enable/DisableWhiteBoxKeys call (the SDK's KeyIds docstring).
const ID_LIST_LIMIT: usize = 50;
/// Most device fingerprints per key (the SDK's OverwriteWhiteBoxDeviceFingerprints docstring).
pub(crate) const FINGERPRINT_LIMIT: usize = 200;
/// Most plaintext bytes EncryptByWhiteBox takes ("cannot exceed 4 KB").
const MAX_PLAINTEXT: usize = 4096;

/// A white-box key's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WhiteBoxStatus {
    Enabled,
    Disabled,
}

impl WhiteBoxStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "Enabled" => Some(Self::Enabled),
            "Disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// Why a white-box call was refused, beyond the rules shared with CMKs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WhiteBoxError {
    #[error("white-box key {0} does not exist in this account and region")]
    NotFound(String),
    #[error("white-box key {0} is disabled")]
    Disabled(String),
    #[error("white-box key {0} must be disabled before it is deleted")]
    NotDisabled(String),
    #[error("an account holds at most {WHITEBOX_KEY_LIMIT} white-box keys in a region")]
    KeyLimit,
    #[error("a white-box key takes at most {FINGERPRINT_LIMIT} device fingerprints")]
    FingerprintLimit,
    #[error("{0}")]
    InvalidValue(String),
}

impl WhiteBoxError {
    /// The Tencent error code (docs/kms-api.md §5.3).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "ResourceNotFound",
            Self::Disabled(_) => "ResourceUnavailable.KeyDisabled",
            Self::NotDisabled(_) => "FailedOperation",
            Self::KeyLimit => "LimitExceeded.KeyLimitExceeded",
            Self::FingerprintLimit => "LimitExceeded.FingerprintsLimitExceeded",
            Self::InvalidValue(_) => "InvalidParameterValue",
        }
    }
}

fn invalid(message: impl Into<String>) -> HsmError {
    WhiteBoxError::InvalidValue(message.into()).into()
}

/// Input of CreateWhiteBoxKey.
#[derive(Debug)]
pub(crate) struct NewWhiteBoxKey {
    pub(crate) alias: String,
    pub(crate) algorithm: String,
    pub(crate) description: String,
    pub(crate) tags: Vec<(String, String)>,
}

/// A white-box key as the Describe actions show it, with its two encoded keys.
pub(crate) struct WhiteBoxKey {
    pub(crate) row: WhiteBoxRow,
    pub(crate) fingerprint_bound: bool,
    /// base64 of the encoded EncryptKey (docs/whitebox.md).
    pub(crate) encrypt_key: Zeroizing<String>,
    /// base64 of the encoded DecryptKey.
    pub(crate) decrypt_key: Zeroizing<String>,
}

/// Filters of DescribeWhiteBoxKeyDetails.
#[derive(Debug, Default)]
pub(crate) struct WhiteBoxFilter {
    pub(crate) status: Option<WhiteBoxStatus>,
    pub(crate) tag_filters: Vec<(String, Vec<String>)>,
}

/// One device fingerprint: its Identity and Description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) identity: String,
    pub(crate) description: String,
}

/// The output of EncryptByWhiteBox.
pub(crate) struct WhiteBoxCiphertext {
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) ciphertext: Vec<u8>,
}

fn encoded(role: Role, algorithm: Algorithm, key: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(B64.encode(&cipher::encode_key(role, algorithm, key)[..]))
}

/// `^[0-9a-f]{8}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{16}$` (the SDK's
/// DeviceFingerprint.Identity docstring).
fn is_fingerprint_identity(identity: &str) -> bool {
    let groups: Vec<&str> = identity.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 14, 14, 14, 16]).all(|(g, len)| {
            g.len() == len && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// A white-box key of the scope, or ResourceNotFound.
fn found<T>(key_id: &str, key: Option<T>) -> Result<T, HsmError> {
    key.ok_or_else(|| WhiteBoxError::NotFound(key_id.to_owned()).into())
}

impl Hsm {
    fn whitebox_row(
        &self,
        tx: &Tx<'_>,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<WhiteBoxRow, HsmError> {
        check_key_id(key_id)?;
        found(key_id, tx.whitebox_key(scope.uin, scope.region, key_id)?)
    }

    /// The key with its key schedule, from the store's in-memory cache (store/hot_secrets.rs):
    /// for the calls that use the key itself. Its status is for the caller to judge.
    fn hot_whitebox(
        &self,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<std::sync::Arc<HotWhiteBoxKey>, HsmError> {
        check_key_id(key_id)?;
        found(
            key_id,
            self.store
                .hot_whitebox_key(scope.uin, scope.region, key_id)?,
        )
    }

    fn whitebox_view(&self, tx: &Tx<'_>, row: WhiteBoxRow) -> Result<WhiteBoxKey, HsmError> {
        let secret = tx.whitebox_secret(&row.key_id)?;
        Ok(WhiteBoxKey {
            fingerprint_bound: !tx.whitebox_fingerprints(&row.key_id)?.is_empty(),
            encrypt_key: encoded(Role::Encrypt, row.algorithm, &secret),
            decrypt_key: encoded(Role::Decrypt, row.algorithm, &secret),
            row,
        })
    }

    pub(crate) fn create_whitebox_key(
        &self,
        scope: Scope<'_>,
        new: NewWhiteBoxKey,
    ) -> Result<WhiteBoxKey, HsmError> {
        check_alias(&new.alias)?;
        check_description(&new.description)?;
        check_tags(&new.tags)?;
        let algorithm = Algorithm::from_name(&new.algorithm)
            .filter(|a| cipher::key_len(*a).is_some())
            .ok_or_else(|| invalid("Algorithm must be AES_256 or SM4"))?;
        let len = cipher::key_len(algorithm).ok_or(HsmError::Internal("key length"))?;
        let secret = random_bytes(len).map_err(|_| HsmError::Internal("key generation"))?;
        let row = WhiteBoxRow {
            key_id: uuid::Uuid::new_v4().to_string(),
            account_uin: scope.uin,
            region: scope.region.into(),
            alias: new.alias,
            description: new.description,
            algorithm,
            status: WhiteBoxStatus::Enabled,
            create_time: self.now(),
        };
        self.store.write(|tx| {
            if tx.whitebox_alias_taken(scope.uin, scope.region, &row.alias)? {
                return Err(HsmError::AliasExists(row.alias.clone()));
            }
            if tx.whitebox_count(scope.uin, scope.region)? >= WHITEBOX_KEY_LIMIT {
                return Err(WhiteBoxError::KeyLimit.into());
            }
            tx.insert_whitebox_key(&row, &secret)?;
            for (k, v) in &new.tags {
                tx.insert_whitebox_tag(&row.key_id, k, v)?;
            }
            Ok(())
        })?;
        Ok(WhiteBoxKey {
            fingerprint_bound: false,
            encrypt_key: encoded(Role::Encrypt, algorithm, &secret),
            decrypt_key: encoded(Role::Decrypt, algorithm, &secret),
            row,
        })
    }

    pub(crate) fn describe_whitebox_key(
        &self,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<WhiteBoxKey, HsmError> {
        self.store.read(|tx| {
            let row = self.whitebox_row(tx, scope, key_id)?;
            self.whitebox_view(tx, row)
        })
    }

    /// The keys of the scope that pass `filter`, oldest first.
    pub(crate) fn list_whitebox_keys(
        &self,
        scope: Scope<'_>,
        filter: &WhiteBoxFilter,
    ) -> Result<Vec<WhiteBoxKey>, HsmError> {
        self.store.read(|tx| {
            let mut out = Vec::new();
            for row in tx.whitebox_keys_in_scope(scope.uin, scope.region)? {
                if filter.status.is_some_and(|s| s != row.status) {
                    continue;
                }
                if tags_match(&filter.tag_filters, &tx.whitebox_tags(&row.key_id)?) {
                    out.push(self.whitebox_view(tx, row)?);
                }
            }
            Ok(out)
        })
    }

    /// The DecryptKey alone (DescribeWhiteBoxDecryptKey); a disabled key still answers.
    pub(crate) fn whitebox_decrypt_key(
        &self,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<Zeroizing<String>, HsmError> {
        let key = self.hot_whitebox(scope, key_id)?;
        Ok(encoded(
            Role::Decrypt,
            key.row.algorithm,
            key.secret().expose_secret(),
        ))
    }

    /// Enable/DisableWhiteBoxKey(s): all keys or none, in one transaction; repeats are accepted.
    pub(crate) fn set_whitebox_enabled(
        &self,
        scope: Scope<'_>,
        key_ids: &[String],
        enable: bool,
    ) -> Result<(), HsmError> {
        if key_ids.len() > ID_LIST_LIMIT {
            return Err(HsmError::InvalidParameter(format!(
                "KeyIds holds at most {ID_LIST_LIMIT} white-box key ids"
            )));
        }
        check_id_list(key_ids)?;
        for id in key_ids {
            check_key_id(id)?;
        }
        let status = if enable {
            WhiteBoxStatus::Enabled
        } else {
            WhiteBoxStatus::Disabled
        };
        self.store.write(|tx| {
            for id in key_ids {
                let row = self.whitebox_row(tx, scope, id)?;
                tx.set_whitebox_status(&row.key_id, status)?;
            }
            Ok(())
        })
    }

    /// Deletes a disabled key for good: its key, tags and fingerprints, and frees its alias.
    pub(crate) fn delete_whitebox_key(
        &self,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<(), HsmError> {
        self.store.write(|tx| {
            let row = self.whitebox_row(tx, scope, key_id)?;
            if row.status != WhiteBoxStatus::Disabled {
                return Err(WhiteBoxError::NotDisabled(row.key_id).into());
            }
            tx.delete_whitebox_key(&row.key_id)?;
            Ok(())
        })
    }

    /// CBC-encrypts 1 to 4096 bytes under an enabled key, with `iv` or a random one.
    pub(crate) fn encrypt_by_whitebox(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        plaintext: &[u8],
        iv: Option<[u8; IV_LEN]>,
    ) -> Result<WhiteBoxCiphertext, HsmError> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(invalid(format!(
                "PlainText must decode to 1-{MAX_PLAINTEXT} bytes"
            )));
        }
        let key = self.hot_whitebox(scope, key_id)?;
        if key.row.status != WhiteBoxStatus::Enabled {
            return Err(WhiteBoxError::Disabled(key.row.key_id.clone()).into());
        }
        let iv = match iv {
            Some(iv) => iv,
            None => random_bytes(IV_LEN)
                .ok()
                .and_then(|b| <[u8; IV_LEN]>::try_from(&b[..]).ok())
                .ok_or(HsmError::Internal("random generator"))?,
        };
        let ciphertext = key
            .cipher()
            .and_then(|cipher| cipher.encrypt(&iv, plaintext))
            .map_err(|_| HsmError::Internal("white-box encryption"))?;
        Ok(WhiteBoxCiphertext { iv, ciphertext })
    }

    pub(crate) fn whitebox_fingerprints(
        &self,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<Vec<Fingerprint>, HsmError> {
        self.store.read(|tx| {
            let row = self.whitebox_row(tx, scope, key_id)?;
            Ok(tx
                .whitebox_fingerprints(&row.key_id)?
                .into_iter()
                .map(|(identity, description)| Fingerprint {
                    identity,
                    description,
                })
                .collect())
        })
    }

    /// Replaces a key's fingerprints (an empty list removes them all); any state.
    pub(crate) fn overwrite_whitebox_fingerprints(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        fingerprints: &[Fingerprint],
    ) -> Result<(), HsmError> {
        if fingerprints.len() > FINGERPRINT_LIMIT {
            return Err(WhiteBoxError::FingerprintLimit.into());
        }
        let mut seen = std::collections::HashSet::new();
        for f in fingerprints {
            if !is_fingerprint_identity(&f.identity) {
                return Err(invalid(
                    "a DeviceFingerprint Identity must match ^[0-9a-f]{8}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{16}$",
                ));
            }
            if f.description.len() > 1024 {
                return Err(invalid(
                    "a DeviceFingerprint Description is at most 1024 bytes",
                ));
            }
            if !seen.insert(&f.identity) {
                return Err(invalid(format!(
                    "DeviceFingerprints names {} twice",
                    f.identity
                )));
            }
        }
        let rows: Vec<(String, String)> = fingerprints
            .iter()
            .map(|f| (f.identity.clone(), f.description.clone()))
            .collect();
        self.store.write(|tx| {
            let row = self.whitebox_row(tx, scope, key_id)?;
            tx.replace_whitebox_fingerprints(&row.key_id, &rows)?;
            Ok(())
        })
    }

    /// A white-box key's owner, region and tags, for access decisions ([`Hsm::key_resource`]).
    pub(super) fn whitebox_resource(
        tx: &Tx<'_>,
        key_id: &str,
    ) -> rusqlite::Result<Option<crate::KeyResource>> {
        let Some(row) = tx.whitebox_key_by_id(key_id)? else {
            return Ok(None);
        };
        Ok(Some(crate::KeyResource {
            tags: tx.whitebox_tags(&row.key_id)?,
            key_id: Some(row.key_id),
            region: row.region,
            owner_uin: row.account_uin,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_identity_syntax() {
        let good = "0123abcd-0123456789abcd-0123456789abcd-0123456789abcd-0123456789abcdef";
        assert!(is_fingerprint_identity(good));
        assert!(!is_fingerprint_identity(&good.to_uppercase()));
        assert!(!is_fingerprint_identity(&good[1..]));
        assert!(!is_fingerprint_identity(&good.replace('-', "_")));
        assert!(!is_fingerprint_identity(&format!("{good}-0")));
    }
}
