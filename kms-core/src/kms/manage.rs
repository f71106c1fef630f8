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
}
