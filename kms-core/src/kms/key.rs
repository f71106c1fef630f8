//! What names a CMK and what its state lets it do, defined once for the client, the CLI and
//! the mock (docs/kms-api.md §3.1, §4.3).

use std::fmt;

/// The prefix a key name may carry to say "this is an alias" (`alias/backups`).
const ALIAS_PREFIX: &str = "alias/";

/// True for a KeyId as Tencent Cloud KMS issues them: 36 lower-case characters in 8-4-4-4-12
/// hex form (`23e80852-1e38-11e9-b129-5cb9019b4b01`).
///
/// Upper case is not a KeyId: the service documents and issues lower case only, and the mock
/// refuses anything else as `InvalidParameterValue.InvalidKeyId`. Clients therefore resolve an
/// upper-case UUID as an alias, which finds a key only if an alias is spelled exactly so,
/// instead of sending a KeyId the service may read differently.
pub fn is_key_id(name: &str) -> bool {
    name.len() == 36
        && name.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// The alias a key name stands for: `name` without a leading `alias/`.
pub fn alias_of(name: &str) -> &str {
    name.strip_prefix(ALIAS_PREFIX).unwrap_or(name)
}

/// A CMK's `KeyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// `Enabled`: every operation.
    Enabled,
    /// `Disabled`: no cryptography until enabled again.
    Disabled,
    /// `PendingDelete`: scheduled for deletion; no cryptography.
    PendingDelete,
    /// `PendingImport`: created for imported material that is not (or no longer) there.
    PendingImport,
    /// `Archived`: decrypts, never encrypts.
    Archived,
}

impl KeyState {
    /// Every state.
    pub const ALL: &'static [Self] = &[
        Self::Enabled,
        Self::Disabled,
        Self::PendingDelete,
        Self::PendingImport,
        Self::Archived,
    ];

    /// The wire name (`PendingDelete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDelete => "PendingDelete",
            Self::PendingImport => "PendingImport",
            Self::Archived => "Archived",
        }
    }

    /// Its number in ListKeyDetail's `KeyState` filter (1 Enabled ... 5 Archived; 0 is "all").
    pub fn list_filter(self) -> u64 {
        match self {
            Self::Enabled => 1,
            Self::Disabled => 2,
            Self::PendingDelete => 3,
            Self::PendingImport => 4,
            Self::Archived => 5,
        }
    }

    /// The state ListKeyDetail's `KeyState` filter number `n` names (1-5; 0 means "all").
    pub fn from_list_filter(n: u64) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.list_filter() == n)
    }

    /// The state a wire name names; `None` for anything else (names are case-sensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == name)
    }

    /// Why a key in this state may not do `operation`, or `None` when it may.
    pub fn refusal(self, operation: KeyOperation) -> Option<StateRefusal> {
        use KeyOperation::{Decrypt, Encrypt, GenerateDataKey, GetDataKeyPlaintext};
        match (self, operation) {
            (Self::Enabled, _) | (Self::Archived, Decrypt) => None,
            (Self::Disabled, Encrypt | GenerateDataKey | Decrypt | GetDataKeyPlaintext) => {
                Some(StateRefusal::Disabled)
            }
            (Self::Archived, Encrypt | GenerateDataKey | GetDataKeyPlaintext) => {
                Some(StateRefusal::Archived)
            }
            (Self::PendingDelete, GenerateDataKey) => Some(StateRefusal::PendingDelete),
            _ => Some(StateRefusal::NotSupported),
        }
    }
}

impl serde::Serialize for KeyState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cryptographic uses of a CMK whose refusals depend on its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOperation {
    /// Encrypt with a symmetric CMK.
    Encrypt,
    /// GenerateDataKey under a symmetric CMK.
    GenerateDataKey,
    /// Decrypt a CiphertextBlob (also allowed while Archived).
    Decrypt,
    /// GetPublicKey, asymmetric decryption or signing: Enabled keys only.
    UsePrivateKey,
    /// GetDataKeyPlaintext of a hosted data key under this CMK: refused as Encrypt is, so a
    /// data key follows its CMK (docs/serve.md, hosted data keys).
    GetDataKeyPlaintext,
}

/// The Tencent error a key's state gives an operation it refuses (docs/kms-api.md
/// §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateRefusal {
    /// `ResourceUnavailable.CmkDisabled`.
    Disabled,
    /// `ResourceUnavailable.CmkArchived`.
    Archived,
    /// `ResourceUnavailable.KeyPendingDelete` (GenerateDataKey only).
    PendingDelete,
    /// `ResourceUnavailable.CmkStateNotSupport`: every other refusal.
    NotSupported,
}

impl StateRefusal {
    const ALL: [Self; 4] = [
        Self::Disabled,
        Self::Archived,
        Self::PendingDelete,
        Self::NotSupported,
    ];

    /// The Tencent error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Disabled => "ResourceUnavailable.CmkDisabled",
            Self::Archived => "ResourceUnavailable.CmkArchived",
            Self::PendingDelete => "ResourceUnavailable.KeyPendingDelete",
            Self::NotSupported => "ResourceUnavailable.CmkStateNotSupport",
        }
    }

    /// The refusal an error code reports, if it is one of these.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_lower_case_uuids_only() {
        assert!(is_key_id("23e80852-1e38-11e9-b129-5cb9019b4b01"));
        // The three former copies disagreed here: upper case is an alias, not a KeyId.
        assert!(!is_key_id("23E80852-1E38-11E9-B129-5CB9019B4B01"));
        assert!(!is_key_id("23e80852-1e38-11e9-b129-5cb9019b4B01"));
        for not_id in [
            "",
            "tkms-default",
            "23e80852-1e38-11e9-b129-5cb9019b4b0",
            "23e80852-1e38-11e9-b129-5cb9019b4b011",
            "23e80852x1e38-11e9-b129-5cb9019b4b01",
            "23e808521-e38-11e9-b129-5cb9019b4b01",
            "23e80852-1e38-11e9-b129-5cb9019b4b0z",
            "alias/23e80852-1e38-11e9-b129-5cb9019b4b01",
            "23e80852-1e38-11e9-b129-5cb9019b4b0é",
        ] {
            assert!(!is_key_id(not_id), "{not_id}");
        }
    }

    #[test]
    fn aliases_may_carry_the_alias_prefix() {
        assert_eq!(alias_of("alias/backups"), "backups");
        assert_eq!(alias_of("backups"), "backups");
        assert_eq!(alias_of("alias/alias/x"), "alias/x");
    }

    #[test]
    fn states_print_and_parse_their_wire_names() {
        for &state in KeyState::ALL {
            assert_eq!(KeyState::parse(state.as_str()), Some(state));
            assert_eq!(KeyState::from_list_filter(state.list_filter()), Some(state));
            assert_eq!(state.to_string(), state.as_str());
        }
        assert_eq!(KeyState::parse("enabled"), None);
        let filters: Vec<u64> = KeyState::ALL.iter().map(|s| s.list_filter()).collect();
        assert_eq!(filters, [1, 2, 3, 4, 5]);
        assert_eq!(KeyState::from_list_filter(0), None);
        assert_eq!(KeyState::from_list_filter(6), None);
        assert_eq!(KeyState::parse(""), None);
    }

    #[test]
    fn state_refusals_follow_the_reference_table() {
        use KeyOperation::*;
        use KeyState::*;
        let code = |state: KeyState, op: KeyOperation| state.refusal(op).map(StateRefusal::code);
        for op in [
            Encrypt,
            GenerateDataKey,
            Decrypt,
            UsePrivateKey,
            GetDataKeyPlaintext,
        ] {
            assert_eq!(code(Enabled, op), None, "{op:?}");
            assert_eq!(
                code(PendingImport, op),
                Some("ResourceUnavailable.CmkStateNotSupport")
            );
        }
        for op in [Encrypt, GenerateDataKey, Decrypt, GetDataKeyPlaintext] {
            assert_eq!(code(Disabled, op), Some("ResourceUnavailable.CmkDisabled"));
        }
        assert_eq!(
            code(Archived, GetDataKeyPlaintext),
            Some("ResourceUnavailable.CmkArchived")
        );
        assert_eq!(code(Archived, Decrypt), None);
        assert_eq!(
            code(Archived, Encrypt),
            Some("ResourceUnavailable.CmkArchived")
        );
        assert_eq!(
            code(Archived, GenerateDataKey),
            Some("ResourceUnavailable.CmkArchived")
        );
        assert_eq!(
            code(PendingDelete, GenerateDataKey),
            Some("ResourceUnavailable.KeyPendingDelete")
        );
        for op in [Encrypt, Decrypt, UsePrivateKey, GetDataKeyPlaintext] {
            assert_eq!(
                code(PendingDelete, op),
                Some("ResourceUnavailable.CmkStateNotSupport")
            );
        }
        for state in [Disabled, Archived] {
            assert_eq!(
                code(state, UsePrivateKey),
                Some("ResourceUnavailable.CmkStateNotSupport")
            );
        }
    }

    #[test]
    fn refusal_codes_round_trip_and_nothing_else_is_one() {
        for refusal in StateRefusal::ALL {
            assert_eq!(StateRefusal::from_code(refusal.code()), Some(refusal));
        }
        // The CLI once matched this code; no KMS emits it.
        assert_eq!(
            StateRefusal::from_code("ResourceUnavailable.CmkPendingDelete"),
            None
        );
        assert_eq!(
            StateRefusal::from_code("ResourceUnavailable.CmkNotFound"),
            None
        );
    }
}
