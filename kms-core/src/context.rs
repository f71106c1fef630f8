//! The encryption context: a string map authenticated with every message.

use std::collections::BTreeMap;

use crate::error::FormatError;

/// Most pairs an encryption context may hold.
pub(crate) const MAX_CONTEXT_PAIRS: usize = 256;

/// A map of non-secret strings bound to a message (or to a KMS ciphertext) as associated data.
///
/// Its canonical encoding is unambiguous: pairs sorted by key bytes, every key and value
/// length-prefixed, so `{"ab":"c"}` and `{"a":"bc"}` never encode alike.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces one pair, returning `self` for chaining.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Adds or replaces one pair.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// True when the context has no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The pairs in canonical (key byte) order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The canonical encoding (docs/envelope-format.md, "Encryption context"):
    ///
    /// ```text
    /// u16 pair count, then for each pair in key byte order:
    ///   u16 key length, key bytes (UTF-8), u16 value length, value bytes (UTF-8)
    /// ```
    /// All integers big-endian.
    pub fn to_canonical_bytes(&self) -> Result<Vec<u8>, FormatError> {
        if self.0.len() > MAX_CONTEXT_PAIRS {
            return Err(FormatError::MalformedHeader(
                "encryption context has too many pairs",
            ));
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        for (key, value) in &self.0 {
            for field in [key, value] {
                let len = u16::try_from(field.len()).map_err(|_| {
                    FormatError::MalformedHeader("encryption context entry longer than 65535 bytes")
                })?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(field.as_bytes());
            }
        }
        Ok(out)
    }

    /// Parses the canonical encoding, returning the context and the number of bytes read.
    /// Rejects unsorted or duplicate keys, so every context has exactly one encoding.
    pub fn from_canonical_bytes(input: &[u8]) -> Result<(Self, usize), FormatError> {
        let mut pos = 0usize;
        let mut take = |n: usize| -> Result<&[u8], FormatError> {
            let end = pos.checked_add(n).filter(|&end| end <= input.len());
            let end = end.ok_or(FormatError::MalformedHeader(
                "encryption context is truncated",
            ))?;
            let bytes = &input[pos..end];
            pos = end;
            Ok(bytes)
        };
        let read_u16 = |bytes: &[u8]| u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        let count = read_u16(take(2)?);
        if count > MAX_CONTEXT_PAIRS {
            return Err(FormatError::MalformedHeader(
                "encryption context has too many pairs",
            ));
        }
        let mut map = BTreeMap::new();
        let mut previous: Option<String> = None;
        for _ in 0..count {
            let key_len = read_u16(take(2)?);
            let key = utf8(take(key_len)?)?;
            let value_len = read_u16(take(2)?);
            let value = utf8(take(value_len)?)?;
            if previous
                .as_deref()
                .is_some_and(|p| p.as_bytes() >= key.as_bytes())
            {
                return Err(FormatError::MalformedHeader(
                    "encryption context keys are not sorted and unique",
                ));
            }
            previous = Some(key.clone());
            map.insert(key, value);
        }
        Ok((Self(map), pos))
    }

    /// The context as Tencent Cloud KMS takes it (`EncryptionContext`, a JSON object string),
    /// with sorted keys and no whitespace, or `None` when empty.
    pub fn to_kms_json(&self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&self.0).expect("a string map always serialises"))
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<String, FormatError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| FormatError::MalformedHeader("encryption context is not UTF-8"))
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_unambiguous() {
        let a = EncryptionContext::new().with("ab", "c");
        let b = EncryptionContext::new().with("a", "bc");
        assert_ne!(
            a.to_canonical_bytes().unwrap(),
            b.to_canonical_bytes().unwrap()
        );
    }

    #[test]
    fn canonical_round_trip_and_order() {
        let ctx = EncryptionContext::new()
            .with("z", "1")
            .with("a", "2")
            .with("é", "");
        let bytes = ctx.to_canonical_bytes().unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(&bytes[2..7], &[0, 1, b'a', 0, 1]);
        let (back, used) = EncryptionContext::from_canonical_bytes(&bytes).unwrap();
        assert_eq!(back, ctx);
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn rejects_unsorted_duplicate_and_truncated() {
        // two pairs "b"->"" then "a"->"": unsorted
        let unsorted = [0, 2, 0, 1, b'b', 0, 0, 0, 1, b'a', 0, 0];
        assert!(EncryptionContext::from_canonical_bytes(&unsorted).is_err());
        let duplicate = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(EncryptionContext::from_canonical_bytes(&duplicate).is_err());
        let truncated = [0, 1, 0, 5, b'a'];
        assert!(EncryptionContext::from_canonical_bytes(&truncated).is_err());
    }

    #[test]
    fn kms_json_is_sorted_and_compact() {
        let ctx = EncryptionContext::new().with("b", "2").with("a", "1");
        assert_eq!(ctx.to_kms_json().unwrap(), r#"{"a":"1","b":"2"}"#);
        assert_eq!(EncryptionContext::new().to_kms_json(), None);
    }
}
