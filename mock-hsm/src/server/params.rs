//! Request parameters that arrive flattened (`KeyIds.0=...&Tags.0.TagKey=env`, GET query or
//! legacy form body): unflatten into the JSON object a TC3 POST would carry, and coerce the
//! strings to the schema's types (every value arrives as a string).

use std::collections::BTreeMap;

use kms_core::internal::{SecretBuf, zeroize_json_strings};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::api::ApiError;

pub(crate) use crate::names::is_known_action;

/// The JSON type of a top-level request field when it is not a string. (No KMS request field
/// is a bool: api.json's bools are all response fields.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldType {
    Uint64,
    Int64,
}

/// The non-string scalar request fields (api.json; no action gives one name two types).
/// Lists and structs need no entry: their shape comes from the flattened keys, and every
/// leaf inside them is a string.
fn field_type(action: &str, field: &str) -> Option<FieldType> {
    let _ = action; // one table serves every action today; the parameter keeps call sites honest.
    match field {
        "Type"
        | "NumberOfBytes"
        | "IsHostedByKms"
        | "ImportType"
        | "ValidTo"
        | "Offset"
        | "Limit"
        | "Role"
        | "OrderType"
        | "KeyState"
        | "DataKeyLen"
        | "RotateDays"
        | "PendingWindowInDays" => Some(FieldType::Uint64),
        "KeyStatus" => Some(FieldType::Int64),
        _ => None,
    }
}

#[derive(Debug)]
enum Node {
    Leaf(Zeroizing<String>),
    Object(BTreeMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameter", message)
}

fn insert(
    node: &mut Node,
    path: &[&str],
    value: Zeroizing<String>,
    key: &str,
) -> Result<(), ApiError> {
    let Some((head, rest)) = path.split_first() else {
        return Err(bad(format!("parameter {key} is malformed")));
    };
    let index = head.parse::<usize>().ok();
    // An empty container takes the shape of its first child.
    if let Node::Object(map) = node
        && map.is_empty()
        && index.is_some()
    {
        *node = Node::List(BTreeMap::new());
    }
    let child = match (node, index) {
        (Node::List(items), Some(i)) => items
            .entry(i)
            .or_insert_with(|| Node::Object(BTreeMap::new())),
        (Node::Object(map), None) if !head.is_empty() => map
            .entry((*head).to_owned())
            .or_insert_with(|| Node::Object(BTreeMap::new())),
        _ => {
            return Err(bad(format!(
                "parameter {key} mixes list indices and field names"
            )));
        }
    };
    if rest.is_empty() {
        return match child {
            Node::Object(map) if map.is_empty() => {
                *child = Node::Leaf(value);
                Ok(())
            }
            _ => Err(bad(format!(
                "parameter {key} is given twice or also has sub-fields"
            ))),
        };
    }
    if matches!(child, Node::Leaf(_)) {
        return Err(bad(format!(
            "parameter {key} is given twice or also has sub-fields"
        )));
    }
    insert(child, rest, value, key)
}

fn into_value(node: Node, top_level_field: Option<(&str, &str)>) -> Result<Value, ApiError> {
    Ok(match node {
        Node::Leaf(text) => {
            match top_level_field.and_then(|(action, field)| field_type(action, field)) {
                None => Value::String(text.to_string()),
                Some(ty) => coerce(
                    &text,
                    ty,
                    top_level_field.map(|(_, f)| f).unwrap_or_default(),
                )?,
            }
        }
        Node::Object(map) => {
            let mut object = Map::new();
            for (name, child) in map {
                object.insert(name, into_value(child, None)?);
            }
            Value::Object(object)
        }
        Node::List(items) => {
            let mut list = Vec::with_capacity(items.len());
            for (expected, (index, child)) in items.into_iter().enumerate() {
                if index != expected {
                    return Err(bad(format!("list index {expected} is missing")));
                }
                list.push(into_value(child, None)?);
            }
            Value::Array(list)
        }
    })
}

fn coerce(text: &str, ty: FieldType, field: &str) -> Result<Value, ApiError> {
    let invalid = || {
        bad(format!(
            "parameter {field} must be {}",
            match ty {
                FieldType::Uint64 => "a non-negative integer",
                FieldType::Int64 => "an integer",
            }
        ))
    };
    match ty {
        FieldType::Uint64 => text.parse::<u64>().map(Value::from).map_err(|_| invalid()),
        FieldType::Int64 => text.parse::<i64>().map(Value::from).map_err(|_| invalid()),
    }
}

/// Turns flattened `(key, value)` pairs (already percent-decoded) into the JSON object body of
/// `action`, serialised.
pub(crate) fn unflatten(
    action: &str,
    pairs: Vec<(String, Zeroizing<String>)>,
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let mut root = BTreeMap::new();
    for (key, value) in pairs {
        let path: Vec<&str> = key.split('.').collect();
        let mut top = Node::Object(std::mem::take(&mut root));
        let result = insert(&mut top, &path, value, &key);
        if let Node::Object(map) = top {
            root = map;
        }
        result?;
    }
    let mut object = Map::new();
    for (field, node) in root {
        let value = into_value(node, Some((action, &field)))?;
        object.insert(field, value);
    }
    let mut value = Value::Object(object);
    let bytes = SecretBuf::json(&value).expect("JSON values always serialise");
    zeroize_json_strings(&mut value);
    Ok(bytes)
}

/// Percent-decodes an `application/x-www-form-urlencoded` string (`+` is a space).
pub(crate) fn decode_pairs(encoded: &[u8]) -> Vec<(String, Zeroizing<String>)> {
    form_urlencoded::parse(encoded)
        .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unflat(action: &str, query: &str) -> Result<Value, ApiError> {
        let bytes = unflatten(action, decode_pairs(query.as_bytes()))?;
        Ok(serde_json::from_slice(&bytes).expect("valid json"))
    }

    #[test]
    fn flattened_lists_structs_and_numbers() {
        let v = unflat(
            "ListKeyDetail",
            "Offset=0&Limit=5&TagFilters.0.TagKey=env&TagFilters.0.TagValue.0=dev&TagFilters.0.TagValue.1=a+b&SearchKeyAlias=x%2By",
        )
        .expect("ok");
        assert_eq!(
            v,
            serde_json::json!({"Offset": 0, "Limit": 5, "SearchKeyAlias": "x+y",
                "TagFilters": [{"TagKey": "env", "TagValue": ["dev", "a b"]}]})
        );
        let v = unflat("DescribeKeys", "KeyIds.0=a&KeyIds.1=b").expect("ok");
        assert_eq!(v, serde_json::json!({"KeyIds": ["a", "b"]}));
        // Numbers inside strings stay strings.
        let v = unflat("Encrypt", "KeyId=123&Plaintext=aGk%3D").expect("ok");
        assert_eq!(v, serde_json::json!({"KeyId": "123", "Plaintext": "aGk="}));
        assert_eq!(
            unflat("GenerateRandom", "").expect("ok"),
            serde_json::json!({})
        );
    }

    #[test]
    fn malformed_flattening_is_invalid_parameter() {
        for query in [
            "NumberOfBytes=abc",
            "NumberOfBytes=-1",
            "KeyIds.1=a",
            "KeyIds.0=a&KeyIds.0=b",
            "KeyIds.0=a&KeyIds.x=b",
            "KeyId=a&KeyId.Sub=b",
            "Tags..TagKey=a",
        ] {
            let err = unflat("GenerateRandom", query).expect_err(query);
            assert_eq!(err.code, "InvalidParameter", "{query}");
        }
    }
}
