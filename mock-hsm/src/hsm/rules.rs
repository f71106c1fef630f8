//! The syntax rules of request values the core checks: KeyId, alias, description, id and tag
//! lists, and the EncryptionContext with its canonical form.

use super::HsmError;
use super::types::KeyState;

use crate::store::KeyRow;

/// Most characters of an EncryptionContext.
pub(crate) const MAX_CONTEXT_CHARS: usize = 1024;

pub(crate) use kms_core::kms::is_key_id as is_valid_key_id;

pub(super) fn check_key_id(id: &str) -> Result<(), HsmError> {
    if is_valid_key_id(id) {
        Ok(())
    } else {
        Err(HsmError::InvalidKeyId)
    }
}

/// The shape of an alias or a data key name: 1-60 of letters, digits, `-`, `_`; first a
/// letter or digit.
pub(super) fn is_name(name: &str) -> bool {
    (1..=60).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Alias rules: [`is_name`], and `kms-` is reserved.
pub(crate) fn check_alias(alias: &str) -> Result<(), HsmError> {
    let ok = is_name(alias) && !alias.to_ascii_lowercase().starts_with("kms-");
    if ok {
        Ok(())
    } else {
        Err(HsmError::InvalidAlias)
    }
}

pub(super) fn check_description(description: &str) -> Result<(), HsmError> {
    if description.len() > 1024 {
        return Err(HsmError::InvalidParameter(
            "Description is longer than 1024 bytes".into(),
        ));
    }
    Ok(())
}

pub(super) fn check_id_list(ids: &[String]) -> Result<(), HsmError> {
    if ids.is_empty() || ids.len() > 100 {
        return Err(HsmError::InvalidParameter(
            "KeyIds must hold 1 to 100 ids".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(HsmError::DuplicatedKeyId(id.clone()));
        }
    }
    Ok(())
}

pub(super) fn check_tags(tags: &[(String, String)]) -> Result<(), HsmError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in tags {
        if k.is_empty() {
            return Err(HsmError::InvalidParameter(
                "TagKey must not be empty".into(),
            ));
        }
        if !seen.insert(k) {
            return Err(HsmError::DuplicatedTagKey(k.clone()));
        }
    }
    Ok(())
}

/// True when `tags` pass every filter: the tag key is present, with one of the listed values
/// (an empty list accepts any value).
pub(super) fn tags_match(filters: &[(String, Vec<String>)], tags: &[(String, String)]) -> bool {
    filters.iter().all(|(k, values)| {
        tags.iter()
            .any(|(tk, tv)| tk == k && (values.is_empty() || values.contains(tv)))
    })
}

pub(super) fn not_found(id: &str) -> HsmError {
    HsmError::NotFound(id.to_owned())
}

pub(super) fn state_not_supported(row: &KeyRow) -> HsmError {
    HsmError::state(&row.key_id, row.key_state)
}

/// Parses an EncryptionContext (a JSON object of strings) into its canonical AAD bytes
/// (kms_core::EncryptionContext): key order and whitespace do not matter, `{"ab":"c"}` and
/// `{"a":"bc"}` differ.
pub(crate) fn canonical_context(context: Option<&str>) -> Result<Vec<u8>, HsmError> {
    let text = context.unwrap_or("");
    let invalid = |message: String| HsmError::InvalidParameterValue(message);
    if text.chars().count() > MAX_CONTEXT_CHARS {
        return Err(invalid(
            "EncryptionContext is longer than 1024 characters".into(),
        ));
    }
    let mut ctx = kms_core::EncryptionContext::new();
    if !text.trim().is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).map_err(|_| {
            invalid("EncryptionContext must be a JSON object of string values, e.g. {\"purpose\":\"test\"}".into())
        })?;
        for (k, v) in map {
            let serde_json::Value::String(v) = v else {
                return Err(invalid(format!(
                    "EncryptionContext value of \"{k}\" must be a string"
                )));
            };
            ctx.insert(k, v);
        }
    }
    ctx.to_canonical_bytes()
        .map_err(|e| invalid(format!("EncryptionContext: {e}")))
}

/// Whether a key (a CMK or a hosted data key) in `state` with `deletion_date` is gone at `now`:
/// pending deletion and past its date, whether or not the maintenance tick has destroyed it yet.
pub(crate) fn past_deletion_date(state: KeyState, deletion_date: u64, now: u64) -> bool {
    state == KeyState::PendingDelete && deletion_date <= now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_and_alias_rules() {
        assert!(is_valid_key_id("23e80852-1e38-11e9-b129-5cb9019b4b01"));
        assert!(!is_valid_key_id("23E80852-1e38-11e9-b129-5cb9019b4b01"));
        assert!(!is_valid_key_id("23e80852-1e38-11e9-b129-5cb9019b4b0"));
        assert!(!is_valid_key_id("23e80852x1e38-11e9-b129-5cb9019b4b01"));
        assert!(check_alias("app-key_1").is_ok());
        for bad in [
            "",
            "-x",
            "_x",
            "kms-x",
            "KMS-x",
            "a b",
            "é",
            &"a".repeat(61),
        ] {
            assert_eq!(
                check_alias(bad).unwrap_err().code(),
                "InvalidParameterValue.InvalidAlias",
                "{bad}"
            );
        }
        assert!(check_alias(&"a".repeat(60)).is_ok());
    }

    #[test]
    fn context_is_canonical_and_unambiguous() {
        let a = canonical_context(Some(r#"{"b":"2", "a":"1"}"#)).unwrap();
        let b = canonical_context(Some(r#"{"a":"1","b":"2"}"#)).unwrap();
        assert_eq!(a, b);
        assert_ne!(
            canonical_context(Some(r#"{"ab":"c"}"#)).unwrap(),
            canonical_context(Some(r#"{"a":"bc"}"#)).unwrap()
        );
        assert_eq!(
            canonical_context(None).unwrap(),
            canonical_context(Some("{}")).unwrap()
        );
        assert_eq!(
            canonical_context(Some("")).unwrap(),
            canonical_context(Some("{}")).unwrap()
        );
        assert_eq!(
            canonical_context(Some(r#"{"a":1}"#)).unwrap_err().code(),
            "InvalidParameterValue"
        );
        assert_eq!(
            canonical_context(Some("[1]")).unwrap_err().code(),
            "InvalidParameterValue"
        );
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(1020));
        assert_eq!(
            canonical_context(Some(&long)).unwrap_err().code(),
            "InvalidParameterValue"
        );
    }
}
