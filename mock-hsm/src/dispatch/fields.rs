//! UnknownParameter: the request fields of every action of KMS 2019-01-18 (api.json, as listed
//! in docs/kms-api.md §2), checked before the typed parse so that every action, implemented
//! or not, refuses a field it does not define. Legacy v1 common parameters (`Action`, `Nonce`,
//! ...) are removed by the server before this check; flattened `Tags.0.TagKey` arrive here as
//! the nested JSON a TC3 body carries, so one walk serves every encoding.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::api::ApiError;

/// The members of the structs request fields hold (a struct, or a list of structs).
const STRUCT_MEMBERS: &[(&str, &[&str])] = &[
    ("DeviceFingerprints", &["Identity", "Description"]),
    ("MemberAccount", &["MemberAppId", "MemberUin"]),
    ("MemberAccounts", &["MemberAppId", "MemberUin"]),
    ("TagFilters", &["TagKey", "TagValue"]),
    ("Tags", &["TagKey", "TagValue"]),
];

const MEMBER: &str = "MemberAccount";
const KEY_MEMBER: &[&str] = &["KeyId", MEMBER];
const KEYS_MEMBER: &[&str] = &["KeyIds", MEMBER];
const DATA_KEY_MEMBER: &[&str] = &["DataKeyId", MEMBER];
const DATA_KEYS_MEMBER: &[&str] = &["DataKeyIds", MEMBER];
const KEY: &[&str] = &["KeyId"];
const KEYS: &[&str] = &["KeyIds"];
const NONE: &[&str] = &[];
const BINDING: &[&str] = &["KeyId", "ProductId", "ResourceId"];
const LIST: &[&str] = &["Offset", "Limit", "Role", "HsmClusterId"];

/// Every action with its request fields, sorted by action (the same list as
/// `crate::names::ACTIONS`, which a test checks).
pub(crate) const REQUEST_FIELDS: &[(&str, &[&str])] = &[
    ("ArchiveKey", KEY_MEMBER),
    (
        "AsymmetricRsaDecrypt",
        &["KeyId", "Ciphertext", "Algorithm"],
    ),
    ("AsymmetricSm2Decrypt", &["KeyId", "Ciphertext"]),
    ("BindCloudResource", BINDING),
    ("CancelDataKeyDeletion", DATA_KEY_MEMBER),
    ("CancelKeyArchive", KEY_MEMBER),
    ("CancelKeyDeletion", KEY_MEMBER),
    (
        "CreateKey",
        &[
            "Alias",
            "Description",
            "KeyUsage",
            "Type",
            "Tags",
            "HsmClusterId",
        ],
    ),
    (
        "CreateWhiteBoxKey",
        &["Alias", "Algorithm", "Description", "Tags"],
    ),
    (
        "Decrypt",
        &[
            "CiphertextBlob",
            "EncryptionContext",
            "EncryptionPublicKey",
            "EncryptionAlgorithm",
        ],
    ),
    ("DeleteImportedKeyMaterial", KEY),
    ("DeleteWhiteBoxKey", KEY),
    ("DescribeDataKey", DATA_KEY_MEMBER),
    ("DescribeDataKeys", DATA_KEYS_MEMBER),
    ("DescribeKey", KEY_MEMBER),
    ("DescribeKeys", KEYS_MEMBER),
    ("DescribeWhiteBoxDecryptKey", KEY),
    ("DescribeWhiteBoxDeviceFingerprints", KEY),
    ("DescribeWhiteBoxKey", KEY),
    (
        "DescribeWhiteBoxKeyDetails",
        &["KeyStatus", "Offset", "Limit", "TagFilters"],
    ),
    ("DescribeWhiteBoxServiceStatus", NONE),
    ("DisableDataKey", DATA_KEY_MEMBER),
    ("DisableDataKeys", DATA_KEYS_MEMBER),
    ("DisableKey", KEY_MEMBER),
    ("DisableKeyRotation", KEY_MEMBER),
    ("DisableKeys", KEYS_MEMBER),
    ("DisableWhiteBoxKey", KEY),
    ("DisableWhiteBoxKeys", KEYS),
    ("EnableDataKey", DATA_KEY_MEMBER),
    ("EnableDataKeys", DATA_KEYS_MEMBER),
    ("EnableKey", KEY_MEMBER),
    ("EnableKeyRotation", &["KeyId", "RotateDays", MEMBER]),
    ("EnableKeys", KEYS_MEMBER),
    ("EnableWhiteBoxKey", KEY),
    ("EnableWhiteBoxKeys", KEYS),
    ("Encrypt", &["KeyId", "Plaintext", "EncryptionContext"]),
    (
        "EncryptByWhiteBox",
        &["KeyId", "PlainText", "InitializationVector"],
    ),
    (
        "GenerateDataKey",
        &[
            "KeyId",
            "KeySpec",
            "NumberOfBytes",
            "EncryptionContext",
            "EncryptionPublicKey",
            "EncryptionAlgorithm",
            "IsHostedByKms",
            "DataKeyName",
            "Description",
            "HsmClusterId",
            "Tags",
        ],
    ),
    ("GenerateRandom", &["NumberOfBytes"]),
    ("GetDataKeyCiphertextBlob", DATA_KEY_MEMBER),
    (
        "GetDataKeyPlaintext",
        &["DataKeyId", "EncryptionPublicKey", "EncryptionAlgorithm"],
    ),
    ("GetKeyRotationStatus", KEY_MEMBER),
    (
        "GetParametersForImport",
        &["KeyId", "WrappingAlgorithm", "WrappingKeySpec"],
    ),
    ("GetPublicKey", KEY),
    ("GetRegions", NONE),
    ("GetServiceStatus", NONE),
    (
        "ImportDataKey",
        &[
            "DataKeyName",
            "ImportKeyMaterial",
            "ImportType",
            "Description",
            "KeyId",
            "HsmClusterId",
            "Tags",
        ],
    ),
    (
        "ImportKeyMaterial",
        &["EncryptedKeyMaterial", "ImportToken", "KeyId", "ValidTo"],
    ),
    ("ListAlgorithms", NONE),
    (
        "ListDataKeyDetail",
        &[
            "Offset",
            "Limit",
            "Role",
            "OrderType",
            "KeyState",
            "SearchKeyAlias",
            "Origin",
            "HsmClusterId",
            "KeyId",
            "DataKeyLen",
            "TagFilters",
            "MemberAccounts",
        ],
    ),
    ("ListDataKeys", LIST),
    (
        "ListKeyDetail",
        &[
            "Offset",
            "Limit",
            "Role",
            "OrderType",
            "KeyState",
            "SearchKeyAlias",
            "Origin",
            "KeyUsage",
            "TagFilters",
            "HsmClusterId",
            "MemberAccounts",
        ],
    ),
    ("ListKeys", LIST),
    (
        "OverwriteWhiteBoxDeviceFingerprints",
        &["KeyId", "DeviceFingerprints"],
    ),
    (
        "PostQuantumCryptoDecrypt",
        &[
            "CiphertextBlob",
            "EncryptionPublicKey",
            "EncryptionAlgorithm",
        ],
    ),
    ("PostQuantumCryptoEncrypt", &["KeyId", "PlainText"]),
    ("PostQuantumCryptoSign", &["Message", "KeyId"]),
    (
        "PostQuantumCryptoVerify",
        &["KeyId", "SignatureValue", "Message"],
    ),
    (
        "ReEncrypt",
        &[
            "CiphertextBlob",
            "DestinationKeyId",
            "SourceEncryptionContext",
            "DestinationEncryptionContext",
        ],
    ),
    ("RotateKey", KEY_MEMBER),
    (
        "ScheduleDataKeyDeletion",
        &["DataKeyId", "PendingWindowInDays", MEMBER],
    ),
    (
        "ScheduleKeyDeletion",
        &["KeyId", "PendingWindowInDays", MEMBER],
    ),
    (
        "SignByAsymmetricKey",
        &["Algorithm", "Message", "KeyId", "MessageType"],
    ),
    ("UnbindCloudResource", BINDING),
    ("UpdateAlias", &["Alias", "KeyId", MEMBER]),
    (
        "UpdateDataKeyDescription",
        &["DataKeyId", "Description", MEMBER],
    ),
    ("UpdateDataKeyName", &["DataKeyId", "DataKeyName", MEMBER]),
    ("UpdateKeyDescription", &["Description", "KeyId", MEMBER]),
    (
        "VerifyByAsymmetricKey",
        &[
            "KeyId",
            "SignatureValue",
            "Message",
            "Algorithm",
            "MessageType",
        ],
    ),
];

/// UnknownParameter when `params` (a JSON object) holds a field `action` does not define, or a
/// struct member its struct does not define. Unknown actions and bodies that are not JSON
/// objects pass: the typed parse gives them their own error.
pub(super) fn check(action: &str, params: &[u8]) -> Result<(), ApiError> {
    let Ok(i) = REQUEST_FIELDS.binary_search_by(|(a, _)| (*a).cmp(action)) else {
        return Ok(());
    };
    let walk = Walk {
        fields: REQUEST_FIELDS[i].1,
        nested: false,
    };
    match walk.deserialize(&mut serde_json::Deserializer::from_slice(params)) {
        Ok(Some(unknown)) => Err(ApiError::new(
            "UnknownParameter",
            format!("{action} has no parameter {}", printable(&unknown)),
        )),
        _ => Ok(()),
    }
}

/// A parameter name for a message: short printable ASCII as sent, anything else described.
fn printable(name: &str) -> Cow<'_, str> {
    if name.len() <= 64 && name.bytes().all(|b| b.is_ascii_graphic()) {
        Cow::Borrowed(name)
    } else {
        Cow::Borrowed("(a name that is not short printable ASCII)")
    }
}

/// Walks a JSON value for the first object member not in `fields` (a struct's member as
/// `Field.Member`). At the top (`nested: false`) only an object is walked; inside a struct
/// field, an object or a list of objects. Other shapes are left to the typed parse.
#[derive(Clone, Copy)]
struct Walk {
    fields: &'static [&'static str],
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut unknown = None;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            let known = self.fields.iter().any(|f| *f == name);
            let members = STRUCT_MEMBERS
                .iter()
                .find(|(field, _)| *field == name && known && !self.nested)
                .map(|(_, members)| *members);
            match members {
                Some(fields) if unknown.is_none() => {
                    let walk = Walk {
                        fields,
                        nested: true,
                    };
                    if let Some(member) = map.next_value_seed(walk)? {
                        unknown = Some(format!("{name}.{member}"));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    if !known && unknown.is_none() {
                        unknown = Some(name.into_owned());
                    }
                }
            }
        }
        Ok(unknown)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut unknown = None;
        if self.nested {
            while let Some(found) = seq.next_element_seed(self)? {
                unknown = unknown.or(found);
            }
        } else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(unknown)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_covers_exactly_the_69_actions() {
        let actions: Vec<&str> = REQUEST_FIELDS.iter().map(|(a, _)| *a).collect();
        assert_eq!(actions, crate::names::ACTIONS);
    }

    fn code(action: &str, body: &str) -> Option<String> {
        check(action, body.as_bytes()).err().map(|e| e.message)
    }

    #[test]
    fn unknown_fields_are_refused_known_ones_pass() {
        assert_eq!(code("Encrypt", r#"{"KeyId":"k","Plaintext":"aGk="}"#), None);
        assert_eq!(
            code("Encrypt", r#"{"KeyId":"k","Plaintext":"aGk=","Extra":1}"#).as_deref(),
            Some("Encrypt has no parameter Extra")
        );
        // Case matters: PlainText is the white-box and post-quantum spelling only.
        assert!(code("Encrypt", r#"{"KeyId":"k","PlainText":"aGk="}"#).is_some());
        assert_eq!(
            code("EncryptByWhiteBox", r#"{"KeyId":"k","PlainText":"aGk="}"#),
            None
        );
        assert_eq!(code("GetRegions", "{}"), None);
        assert!(code("GetRegions", r#"{"Region":"ap-guangzhou"}"#).is_some());
        // Struct members, in a list or alone.
        assert_eq!(
            code(
                "CreateKey",
                r#"{"Alias":"a","Tags":[{"TagKey":"k","TagValue":"v"}]}"#
            ),
            None
        );
        assert_eq!(
            code(
                "CreateKey",
                r#"{"Alias":"a","Tags":[{"TagKey":"k","Value":"v"}]}"#
            )
            .as_deref(),
            Some("CreateKey has no parameter Tags.Value")
        );
        assert_eq!(
            code(
                "DescribeKey",
                r#"{"KeyId":"k","MemberAccount":{"MemberUin":1,"X":2}}"#
            )
            .as_deref(),
            Some("DescribeKey has no parameter MemberAccount.X")
        );
        // Other shapes are left to the typed parse; unknown actions to InvalidAction.
        assert_eq!(code("Encrypt", "[1]"), None);
        assert_eq!(code("Encrypt", "not json"), None);
        assert_eq!(code("NoSuchAction", r#"{"X":1}"#), None);
        // A name that is not printable is described, never echoed.
        assert_eq!(
            code("Encrypt", r#"{"\u0001secret":1}"#).as_deref(),
            Some("Encrypt has no parameter (a name that is not short printable ASCII)")
        );
    }
}
