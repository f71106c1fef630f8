//! `tkms key ...`: key management through the Tencent Cloud KMS actions.

use std::io::Write;

use serde_json::{Value, json};

use crate::args::{KeyArgs, KeyCommand, KmsArgs, MaterialArg, OutputFormat};
use crate::backend::{Kms, Material};
use crate::error::{CliError, CliResult};
use crate::io::Sink;

pub(crate) fn run(args: &KeyArgs, kms_args: &KmsArgs) -> CliResult<()> {
    let material = match &args.command {
        KeyCommand::Create {
            material: Some(m), ..
        } => {
            if kms_args.endpoint.is_some() {
                return Err(
                    CliError::usage("--material works only with the embedded key store").with_hint(
                        "a remote KMS picks symmetric material by region: choose it with --region",
                    ),
                );
            }
            match m {
                MaterialArg::Aes256 => Material::Aes256,
                MaterialArg::Sm4 => Material::Sm4,
            }
        }
        _ => Material::Aes256,
    };
    let kms = Kms::open_with(kms_args, material)?;
    let format = args.output;
    match &args.command {
        KeyCommand::Create {
            alias,
            usage,
            description,
            ..
        } => {
            let mut params = json!({ "Alias": alias, "KeyUsage": usage.api_name() });
            if let Some(d) = description {
                params["Description"] = json!(d);
            }
            let created = kms.call("CreateKey", params, Some(alias))?;
            let id = created["KeyId"].as_str().unwrap_or_default().to_owned();
            let meta = describe(&kms, &id, alias)?;
            emit(format, &meta, || {
                format!(
                    "created key {id} (alias {alias})\n{}",
                    render_metadata(&meta)
                )
            })
        }
        KeyCommand::List { state, search } => {
            let list = list_all(&kms, state.map(|s| s.filter()), search.as_deref())?;
            emit(format, &list, || render_list(&list))
        }
        KeyCommand::Describe(name) => {
            let meta = describe_named(&kms, &name.key)?;
            emit(format, &meta, || render_metadata(&meta))
        }
        KeyCommand::Enable(name) => state_change(&kms, format, &name.key, "EnableKey"),
        KeyCommand::Disable(name) => state_change(&kms, format, &name.key, "DisableKey"),
        KeyCommand::CancelDeletion(name) => {
            state_change(&kms, format, &name.key, "CancelKeyDeletion")
        }
        KeyCommand::Archive { name, cancel } => {
            let action = if *cancel {
                "CancelKeyArchive"
            } else {
                "ArchiveKey"
            };
            state_change(&kms, format, &name.key, action)
        }
        KeyCommand::Rotate(name) => {
            let id = kms.resolve(&name.key)?.key_id;
            kms.call("RotateKey", json!({ "KeyId": id }), Some(&name.key))?;
            let meta = describe(&kms, &id, &name.key)?;
            emit(format, &meta, || {
                format!(
                    "rotated key {id}: new material encrypts from now on; old material still decrypts\n"
                )
            })
        }
        KeyCommand::Rotation {
            name,
            enable,
            disable,
            days,
        } => {
            let id = kms.resolve(&name.key)?.key_id;
            if *enable {
                let mut params = json!({ "KeyId": id });
                if let Some(d) = days {
                    params["RotateDays"] = json!(d);
                }
                kms.call("EnableKeyRotation", params, Some(&name.key))?;
            } else if *disable {
                kms.call(
                    "DisableKeyRotation",
                    json!({ "KeyId": id }),
                    Some(&name.key),
                )?;
            }
            let status = kms.call(
                "GetKeyRotationStatus",
                json!({ "KeyId": id }),
                Some(&name.key),
            )?;
            let meta = describe(&kms, &id, &name.key)?;
            let report = json!({
                "KeyId": id,
                "KeyRotationEnabled": status["KeyRotationEnabled"].as_bool().unwrap_or(false),
                "RotateDays": meta["RotateDays"],
                "LastRotateTime": meta["LastRotateTime"],
                "NextRotateTime": meta["NextRotateTime"],
            });
            emit(format, &report, || {
                format!("key {id}: {}\n", rotation_text(&report))
            })
        }
        KeyCommand::ScheduleDeletion { name, days } => {
            let id = kms.resolve(&name.key)?.key_id;
            let r = kms.call(
                "ScheduleKeyDeletion",
                json!({ "KeyId": id, "PendingWindowInDays": days }),
                Some(&name.key),
            )?;
            let when = r["DeletionDate"]
                .as_u64()
                .map_or_else(|| "(unknown)".to_owned(), format_time);
            emit(format, &r, || {
                format!(
                    "key {id} will be deleted at {when}; until then: tkms key cancel-deletion {id}\n"
                )
            })
        }
        KeyCommand::Alias { name, alias } => {
            let id = kms.resolve(&name.key)?.key_id;
            kms.call(
                "UpdateAlias",
                json!({ "KeyId": id, "Alias": alias }),
                Some(&name.key),
            )?;
            let meta = describe(&kms, &id, alias)?;
            emit(format, &meta, || {
                format!("key {id} now has the alias {alias}\n")
            })
        }
        KeyCommand::PublicKey { name, out, force } => {
            let id = kms.resolve(&name.key)?.key_id;
            let r = kms.call("GetPublicKey", json!({ "KeyId": id }), Some(&name.key))?;
            let pem = r["PublicKeyPem"].as_str().unwrap_or_default().to_owned();
            match (out, format) {
                (Some(path), _) => {
                    let mut sink = Sink::open(Some(path), *force)?;
                    sink.write_all(pem.as_bytes())
                        .map_err(|e| CliError::write(Some(path), &e))?;
                    sink.commit()
                }
                (None, OutputFormat::Json) => print(&json_text(&r)),
                (None, OutputFormat::Text) => print(&pem),
            }
        }
    }
}

/// Runs a state action (EnableKey, DisableKey, ...) then reports the key's new state.
fn state_change(kms: &Kms, format: OutputFormat, name: &str, action: &str) -> CliResult<()> {
    let id = kms.resolve(name)?.key_id;
    kms.call(action, json!({ "KeyId": id }), Some(name))?;
    let meta = describe(kms, &id, name)?;
    emit(format, &meta, || {
        format!(
            "key {id} is now {}\n",
            meta["KeyState"].as_str().unwrap_or("(unknown state)")
        )
    })
}

fn describe_named(kms: &Kms, name: &str) -> CliResult<Value> {
    let id = kms.resolve(name)?.key_id;
    describe(kms, &id, name)
}

fn describe(kms: &Kms, id: &str, name: &str) -> CliResult<Value> {
    let r = kms.call("DescribeKey", json!({ "KeyId": id }), Some(name))?;
    Ok(r["KeyMetadata"].clone())
}

/// Every key (all usages), paging through ListKeyDetail.
fn list_all(kms: &Kms, state: Option<u64>, search: Option<&str>) -> CliResult<Value> {
    let mut all = Vec::new();
    let mut offset = 0u64;
    loop {
        let mut params =
            json!({ "KeyUsage": "ALL", "Offset": offset, "Limit": 200, "OrderType": 1 });
        if let Some(s) = state {
            params["KeyState"] = json!(s);
        }
        if let Some(s) = search {
            params["SearchKeyAlias"] = json!(s);
        }
        let page = kms.call("ListKeyDetail", params, None)?;
        let keys = page["KeyMetadatas"].as_array().cloned().unwrap_or_default();
        offset += keys.len() as u64;
        let total = page["TotalCount"].as_u64().unwrap_or(0);
        let done = keys.is_empty() || offset >= total;
        all.extend(keys);
        if done {
            break;
        }
    }
    Ok(json!({ "TotalCount": all.len(), "KeyMetadatas": all }))
}

fn emit(format: OutputFormat, value: &Value, text: impl FnOnce() -> String) -> CliResult<()> {
    match format {
        OutputFormat::Json => print(&json_text(value)),
        OutputFormat::Text => print(&text()),
    }
}

fn json_text(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    s.push('\n');
    s
}

fn print(text: &str) -> CliResult<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::write(None, &e))
}

fn str_field<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

/// KeyMetadata `Type`: 4 = national-secret (SM4/SM2) material, 2 = FIPS (AES/RSA/ECC).
fn material(meta: &Value) -> &'static str {
    match (meta["Type"].as_i64(), str_field(meta, "KeyUsage")) {
        (_, "ASYMMETRIC_DECRYPT_RSA_2048") => "RSA-2048",
        (_, "ASYMMETRIC_DECRYPT_SM2") => "SM2",
        (Some(4), _) => "SM4",
        (Some(2), "ENCRYPT_DECRYPT") => "AES-256",
        _ => "",
    }
}

pub(crate) fn render_metadata(meta: &Value) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("KeyId", str_field(meta, "KeyId").to_owned()),
        ("Alias", str_field(meta, "Alias").to_owned()),
        ("State", str_field(meta, "KeyState").to_owned()),
        ("Usage", str_field(meta, "KeyUsage").to_owned()),
    ];
    let material = material(meta);
    if !material.is_empty() {
        rows.push(("Material", material.to_owned()));
    }
    rows.push(("Origin", str_field(meta, "Origin").to_owned()));
    if let Some(t) = meta["CreateTime"].as_u64() {
        rows.push(("Created", format_time(t)));
    }
    rows.push(("Rotation", rotation_text(meta)));
    if let Some(d) = meta["DeletionDate"].as_u64().filter(|d| *d > 0) {
        rows.push(("Deletion", format_time(d)));
    }
    let description = str_field(meta, "Description");
    if !description.is_empty() {
        rows.push(("Description", description.to_owned()));
    }
    rows.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k:<12} {v}\n"))
        .collect()
}

fn rotation_text(meta: &Value) -> String {
    if meta["KeyRotationEnabled"].as_bool() != Some(true) {
        return "off".to_owned();
    }
    let mut text = "on".to_owned();
    if let Some(days) = meta["RotateDays"].as_u64().filter(|d| *d > 0) {
        text.push_str(&format!(", every {days} days"));
    }
    if let Some(next) = meta["NextRotateTime"].as_u64().filter(|t| *t > 0) {
        text.push_str(&format!(", next {}", format_time(next)));
    }
    text
}

fn render_list(list: &Value) -> String {
    let keys = list["KeyMetadatas"].as_array().cloned().unwrap_or_default();
    if keys.is_empty() {
        return "no keys (create one with `tkms key create ALIAS`)\n".to_owned();
    }
    let mut out = format!(
        "{:<36}  {:<24}  {:<13}  {:<28}  {}\n",
        "KEY ID", "ALIAS", "STATE", "USAGE", "CREATED"
    );
    for k in &keys {
        out.push_str(&format!(
            "{:<36}  {:<24}  {:<13}  {:<28}  {}\n",
            str_field(k, "KeyId"),
            str_field(k, "Alias"),
            str_field(k, "KeyState"),
            str_field(k, "KeyUsage"),
            k["CreateTime"]
                .as_u64()
                .map(format_time)
                .unwrap_or_default(),
        ));
    }
    out
}

/// Unix seconds as RFC 3339 UTC (`2026-11-29T05:00:00Z`).
pub(crate) fn format_time(unix: u64) -> String {
    kms_core::http::tc3::utc_datetime(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_559_318_399), "2019-05-31T15:59:59Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn metadata_rendering_names_material_and_rotation() {
        let meta = json!({
            "KeyId": "23e80852-1e38-11e9-b129-5cb9019b4b01", "Alias": "backups", "KeyState": "Enabled",
            "KeyUsage": "ENCRYPT_DECRYPT", "Type": 4, "Origin": "TENCENT_KMS", "CreateTime": 0,
            "KeyRotationEnabled": true, "RotateDays": 90, "NextRotateTime": 86400, "DeletionDate": 0,
        });
        let text = render_metadata(&meta);
        assert!(text.contains("Material     SM4\n"), "{text}");
        assert!(
            text.contains("Rotation     on, every 90 days, next 1970-01-02T00:00:00Z\n"),
            "{text}"
        );
        assert!(!text.contains("Deletion"), "{text}");
    }
}
