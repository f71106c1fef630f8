//! Typed key-management calls (what `tkms key` does), available on every [`KmsTransport`].

use serde::Deserialize;
use serde_json::json;

use super::{KeyMetadata, KeyState, KmsError, KmsTransport, call, list_key_pages};

/// Which keys ListKeyDetail returns: all usages, narrowed by state and a fuzzy alias/KeyId
/// search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyFilter<'a> {
    /// Only keys in this state.
    pub state: Option<KeyState>,
    /// Only keys whose alias or KeyId contains this (`SearchKeyAlias`).
    pub search: Option<&'a str>,
}

/// The state actions that take only a KeyId and answer nothing but the RequestId.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateChange {
    /// EnableKey: Disabled -> Enabled.
    Enable,
    /// DisableKey: Enabled -> Disabled.
    Disable,
    /// CancelKeyDeletion: PendingDelete -> Disabled.
    CancelDeletion,
    /// ArchiveKey: Enabled -> Archived.
    Archive,
    /// CancelKeyArchive: Archived -> Enabled.
    CancelArchive,
}

impl StateChange {
    /// The action's name.
    pub fn action(self) -> &'static str {
        match self {
            Self::Enable => "EnableKey",
            Self::Disable => "DisableKey",
            Self::CancelDeletion => "CancelKeyDeletion",
            Self::Archive => "ArchiveKey",
            Self::CancelArchive => "CancelKeyArchive",
        }
    }
}

/// Typed key-management calls, available on every [`KmsTransport`].
pub trait KeyManagement {
    /// CreateKey with KMS-made material; returns the new KeyId.
    fn create_key(
        &self,
        alias: &str,
        key_usage: &str,
        description: Option<&str>,
    ) -> Result<String, KmsError>;
    /// Every key of any usage that `filter` selects, oldest first (ListKeyDetail, all pages).
    fn list_keys(&self, filter: &KeyFilter<'_>) -> Result<Vec<KeyMetadata>, KmsError>;
    /// EnableKey, DisableKey, CancelKeyDeletion, ArchiveKey or CancelKeyArchive.
    fn change_key_state(&self, key_id: &str, change: StateChange) -> Result<(), KmsError>;
    /// ScheduleKeyDeletion after `pending_days` (7-30); returns the DeletionDate (Unix seconds).
    fn schedule_key_deletion(&self, key_id: &str, pending_days: u64) -> Result<u64, KmsError>;
    /// RotateKey: new material from now on.
    fn rotate_key(&self, key_id: &str) -> Result<(), KmsError>;
    /// EnableKeyRotation (every `rotate_days`, or the service default) or DisableKeyRotation.
    fn set_key_rotation(
        &self,
        key_id: &str,
        enabled: bool,
        rotate_days: Option<u64>,
    ) -> Result<(), KmsError>;
    /// GetKeyRotationStatus.
    fn key_rotation_enabled(&self, key_id: &str) -> Result<bool, KmsError>;
    /// UpdateAlias.
    fn update_alias(&self, key_id: &str, alias: &str) -> Result<(), KmsError>;
    /// BindCloudResource (`bind`) or UnbindCloudResource: while a cloud product's resource is
    /// bound to the key, the KMS refuses to disable, archive or delete it (docs/kms-api.md §4.7).
    fn set_cloud_binding(
        &self,
        key_id: &str,
        product_id: &str,
        resource_id: &str,
        bind: bool,
    ) -> Result<(), KmsError>;
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyResponse {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleResponse {
    deletion_date: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotationStatusResponse {
    key_rotation_enabled: bool,
}

/// An answer with nothing but the RequestId.
#[derive(Deserialize)]
struct Empty {}

impl<T: KmsTransport + ?Sized> KeyManagement for T {
    fn create_key(
        &self,
        alias: &str,
        key_usage: &str,
        description: Option<&str>,
    ) -> Result<String, KmsError> {
        let mut params = json!({"Alias": alias, "KeyUsage": key_usage});
        if let Some(description) = description {
            params["Description"] = json!(description);
        }
        let r: CreateKeyResponse = call(self, "CreateKey", params)?;
        Ok(r.key_id)
    }

    fn list_keys(&self, filter: &KeyFilter<'_>) -> Result<Vec<KeyMetadata>, KmsError> {
        let mut all = Vec::new();
        list_key_pages(self, filter, |page| {
            all.extend(page);
            std::ops::ControlFlow::Continue(())
        })?;
        Ok(all)
    }

    fn change_key_state(&self, key_id: &str, change: StateChange) -> Result<(), KmsError> {
        call::<Empty>(self, change.action(), json!({"KeyId": key_id})).map(|_| ())
    }

    fn schedule_key_deletion(&self, key_id: &str, pending_days: u64) -> Result<u64, KmsError> {
        let params = json!({"KeyId": key_id, "PendingWindowInDays": pending_days});
        let r: ScheduleResponse = call(self, "ScheduleKeyDeletion", params)?;
        Ok(r.deletion_date)
    }

    fn rotate_key(&self, key_id: &str) -> Result<(), KmsError> {
        call::<Empty>(self, "RotateKey", json!({"KeyId": key_id})).map(|_| ())
    }

    fn set_key_rotation(
        &self,
        key_id: &str,
        enabled: bool,
        rotate_days: Option<u64>,
    ) -> Result<(), KmsError> {
        let mut params = json!({"KeyId": key_id});
        let action = if enabled {
            if let Some(days) = rotate_days {
                params["RotateDays"] = json!(days);
            }
            "EnableKeyRotation"
        } else {
            "DisableKeyRotation"
        };
        call::<Empty>(self, action, params).map(|_| ())
    }

    fn key_rotation_enabled(&self, key_id: &str) -> Result<bool, KmsError> {
        let r: RotationStatusResponse =
            call(self, "GetKeyRotationStatus", json!({"KeyId": key_id}))?;
        Ok(r.key_rotation_enabled)
    }

    fn update_alias(&self, key_id: &str, alias: &str) -> Result<(), KmsError> {
        let params = json!({"KeyId": key_id, "Alias": alias});
        call::<Empty>(self, "UpdateAlias", params).map(|_| ())
    }

    fn set_cloud_binding(
        &self,
        key_id: &str,
        product_id: &str,
        resource_id: &str,
        bind: bool,
    ) -> Result<(), KmsError> {
        let params = json!({"KeyId": key_id, "ProductId": product_id, "ResourceId": resource_id});
        let action = if bind {
            "BindCloudResource"
        } else {
            "UnbindCloudResource"
        };
        call::<Empty>(self, action, params).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::Value;
    use zeroize::Zeroizing;

    use super::*;
    use crate::kms::KmsClient as _;

    /// A KMS whose ListKeyDetail pages are shorter than asked (two keys) and fuzzy-match the
    /// alias, like the service's `SearchKeyAlias`.
    struct ShortPages {
        aliases: Vec<&'static str>,
        calls: Mutex<Vec<String>>,
    }

    impl ShortPages {
        fn key_id(i: usize) -> String {
            format!("00000000-0000-4000-8000-{i:012}")
        }

        fn meta(&self, i: usize) -> Value {
            json!({"KeyId": Self::key_id(i), "Alias": self.aliases[i], "KeyState": "Enabled"})
        }
    }

    impl KmsTransport for ShortPages {
        fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
            let p: Value = serde_json::from_slice(params).unwrap();
            self.calls.lock().unwrap().push(action.to_owned());
            let body = match action {
                "ListKeyDetail" => {
                    let search = p["SearchKeyAlias"].as_str().unwrap_or("");
                    let hits: Vec<usize> = (0..self.aliases.len())
                        .filter(|&i| self.aliases[i].contains(search))
                        .collect();
                    let offset = p["Offset"].as_u64().unwrap() as usize;
                    let page: Vec<Value> = hits
                        .iter()
                        .skip(offset)
                        .take(2)
                        .map(|&i| self.meta(i))
                        .collect();
                    json!({"TotalCount": hits.len(), "KeyMetadatas": page, "RequestId": "r"})
                }
                "DescribeKey" => {
                    let i = (0..self.aliases.len())
                        .find(|&i| p["KeyId"] == json!(Self::key_id(i)))
                        .ok_or_else(|| KmsError::new("ResourceUnavailable.CmkNotFound", "no"))?;
                    json!({"KeyMetadata": self.meta(i), "RequestId": "r"})
                }
                other => panic!("unexpected {other}"),
            };
            Ok(Zeroizing::new(serde_json::to_vec(&body).unwrap()))
        }
    }

    fn kms(aliases: &[&'static str]) -> ShortPages {
        ShortPages {
            aliases: aliases.to_vec(),
            calls: Mutex::default(),
        }
    }

    #[test]
    fn aliases_resolve_exactly_across_short_pages() {
        // "backup" fuzzily matches four keys on two pages of two; only the fourth is exact.
        let kms = kms(&["backup-a", "backup-b", "old-backup", "backup", "other"]);
        let found = kms.find_key("backup").unwrap().unwrap();
        assert_eq!(found.key_id, ShortPages::key_id(3));
        assert_eq!(
            kms.find_key("alias/backup").unwrap().unwrap().alias,
            "backup"
        );
        assert_eq!(kms.find_key("backup-c").unwrap(), None);
    }

    #[test]
    fn key_ids_skip_the_search_and_upper_case_ones_are_aliases() {
        let kms = kms(&["a", "23E80852-1E38-11E9-B129-5CB9019B4B01"]);
        assert_eq!(
            kms.find_key(&ShortPages::key_id(0)).unwrap().unwrap().alias,
            "a"
        );
        assert_eq!(*kms.calls.lock().unwrap(), ["DescribeKey"]);
        let upper = kms
            .find_key("23E80852-1E38-11E9-B129-5CB9019B4B01")
            .unwrap();
        assert_eq!(upper.unwrap().key_id, ShortPages::key_id(1));
    }

    #[test]
    fn listing_reads_every_short_page() {
        let kms = kms(&["k1", "k2", "k3", "k4", "k5"]);
        let all = kms.list_keys(&KeyFilter::default()).unwrap();
        let aliases: Vec<&str> = all.iter().map(|k| k.alias.as_str()).collect();
        assert_eq!(aliases, ["k1", "k2", "k3", "k4", "k5"]);
    }
}
