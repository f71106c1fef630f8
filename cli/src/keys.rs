//! `tkms key ...`: key management through the Tencent Cloud KMS actions.

use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::kms::{KeyFilter, KeyManagement as _, KeyMetadata, KmsClient as _, StateChange};
use serde_json::json;

use crate::args::{KeyArgs, KeyCommand, KeyUsageArg, KmsArgs, MaterialArg, OutputFormat};
use crate::backend::{Kms, Material};
use crate::error::{CliError, CliResult};
use crate::io::Sink;
use crate::sign;

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
            let id = kms
                .transport()
                .create_key(alias, usage.api_name(), description.as_deref())
                .map_err(|e| CliError::kms(&e, Some(alias)))?;
            let meta = describe(&kms, &id, alias)?;
            emit(format, &meta, || {
                format!(
                    "created key {id} (alias {alias})\n{}",
                    render_metadata(&meta)
                )
            })
        }
        KeyCommand::List { state, search } => {
            let filter = KeyFilter {
                state: state.map(|s| s.state()),
                search: search.as_deref(),
            };
            let keys = kms
                .transport()
                .list_keys(&filter)
                .map_err(|e| CliError::kms(&e, None))?;
            let list = json!({ "TotalCount": keys.len(), "KeyMetadatas": keys });
            emit(format, &list, || render_list(&keys))
        }
        KeyCommand::Describe(name) => {
            let meta = describe_named(&kms, &name.key)?;
            emit(format, &meta, || render_metadata(&meta))
        }
        KeyCommand::Enable(name) => state_change(&kms, format, &name.key, StateChange::Enable),
        KeyCommand::Disable(name) => state_change(&kms, format, &name.key, StateChange::Disable),
        KeyCommand::CancelDeletion(name) => {
            state_change(&kms, format, &name.key, StateChange::CancelDeletion)
        }
        KeyCommand::Archive { name, cancel } => {
            let change = if *cancel {
                StateChange::CancelArchive
            } else {
                StateChange::Archive
            };
            state_change(&kms, format, &name.key, change)
        }
        KeyCommand::Rotate(name) => {
            let id = kms.resolve(&name.key)?.key_id;
            kms.transport()
                .rotate_key(&id)
                .map_err(|e| CliError::kms(&e, Some(&name.key)))?;
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
            let transport = kms.transport();
            let explain = |e| CliError::kms(&e, Some(&name.key));
            if *enable || *disable {
                transport
                    .set_key_rotation(&id, *enable, *days)
                    .map_err(explain)?;
            }
            let enabled = transport.key_rotation_enabled(&id).map_err(explain)?;
            let meta = describe(&kms, &id, &name.key)?;
            let report = json!({
                "KeyId": id,
                "KeyRotationEnabled": enabled,
                "RotateDays": meta.rotate_days,
                "LastRotateTime": meta.last_rotate_time,
                "NextRotateTime": meta.next_rotate_time,
            });
            emit(format, &report, || {
                let text = rotation_text(enabled, meta.rotate_days, meta.next_rotate_time);
                format!("key {id}: {text}\n")
            })
        }
        KeyCommand::ScheduleDeletion { name, days } => {
            let id = kms.resolve(&name.key)?.key_id;
            let deletion_date = kms
                .transport()
                .schedule_key_deletion(&id, *days)
                .map_err(|e| CliError::kms(&e, Some(&name.key)))?;
            let r = json!({ "DeletionDate": deletion_date, "KeyId": id });
            let when = format_time(deletion_date);
            emit(format, &r, || {
                format!(
                    "key {id} will be deleted at {when}; until then: tkms key cancel-deletion {id}\n"
                )
            })
        }
        KeyCommand::Alias { name, alias } => {
            let id = kms.resolve(&name.key)?.key_id;
            kms.transport()
                .update_alias(&id, alias)
                .map_err(|e| CliError::kms(&e, Some(&name.key)))?;
            let meta = describe(&kms, &id, alias)?;
            emit(format, &meta, || {
                format!("key {id} now has the alias {alias}\n")
            })
        }
        KeyCommand::Datakey { command } => crate::datakeys::run(command, &kms, format),
        KeyCommand::Sign(sign_args) => sign::sign(&kms, format, sign_args),
        KeyCommand::Verify {
            args: sign_args,
            signature,
            signature_file,
        } => {
            let signature = match (signature, signature_file) {
                (Some(text), _) => text.clone(),
                (None, Some(path)) => {
                    std::fs::read_to_string(path).map_err(|e| CliError::read(Some(path), &e))?
                }
                (None, None) => {
                    return Err(CliError::usage("give --signature or --signature-file"));
                }
            };
            sign::verify(&kms, format, sign_args, &signature)
        }
        KeyCommand::PublicKey { name, out, force } => {
            let id = kms.resolve(&name.key)?.key_id;
            let key = kms
                .transport()
                .get_public_key(&id)
                .map_err(|e| CliError::kms(&e, Some(&name.key)))?;
            let r = json!({
                "KeyId": key.key_id,
                "PublicKey": B64.encode(&key.spki_der),
                "PublicKeyPem": key.pem,
            });
            let pem = key.pem;
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
fn state_change(kms: &Kms, format: OutputFormat, name: &str, change: StateChange) -> CliResult<()> {
    let id = kms.resolve(name)?.key_id;
    kms.transport()
        .change_key_state(&id, change)
        .map_err(|e| CliError::kms(&e, Some(name)))?;
    let meta = describe(kms, &id, name)?;
    emit(format, &meta, || {
        format!("key {id} is now {}\n", meta.key_state)
    })
}

fn describe_named(kms: &Kms, name: &str) -> CliResult<KeyMetadata> {
    let id = kms.resolve(name)?.key_id;
    describe(kms, &id, name)
}

fn describe(kms: &Kms, id: &str, name: &str) -> CliResult<KeyMetadata> {
    kms.transport()
        .describe_key(id)
        .map_err(|e| CliError::kms(&e, Some(name)))
}

pub(crate) fn emit(
    format: OutputFormat,
    value: &impl serde::Serialize,
    text: impl FnOnce() -> String,
) -> CliResult<()> {
    match format {
        OutputFormat::Json => print(&json_text(value)),
        OutputFormat::Text => print(&text()),
    }
}

/// Pretty JSON with the keys in order (as a `Value` prints them).
fn json_text(value: &impl serde::Serialize) -> String {
    let value = serde_json::to_value(value).expect("JSON values always serialise");
    let mut s = serde_json::to_string_pretty(&value).expect("JSON values always serialise");
    s.push('\n');
    s
}

fn print(text: &str) -> CliResult<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::write(None, &e))
}

/// The material by KeyUsage; KeyMetadata `Type` 4 (national-secret) makes symmetric keys SM4.
fn material(meta: &KeyMetadata) -> &'static str {
    KeyUsageArg::from_api_name(&meta.key_usage).map_or("", |u| u.material(meta.key_type == 4))
}

pub(crate) fn render_metadata(meta: &KeyMetadata) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("KeyId", meta.key_id.clone()),
        ("Alias", meta.alias.clone()),
        ("State", meta.key_state.clone()),
        ("Usage", meta.key_usage.clone()),
    ];
    let material = material(meta);
    if !material.is_empty() {
        rows.push(("Material", material.to_owned()));
    }
    rows.push(("Origin", meta.origin.clone()));
    rows.push(("Created", format_time(meta.create_time)));
    rows.push((
        "Rotation",
        rotation_text(
            meta.key_rotation_enabled,
            meta.rotate_days,
            meta.next_rotate_time,
        ),
    ));
    if meta.deletion_date > 0 {
        rows.push(("Deletion", format_time(meta.deletion_date)));
    }
    if !meta.description.is_empty() {
        rows.push(("Description", meta.description.clone()));
    }
    rows.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k:<12} {v}\n"))
        .collect()
}

/// `off`, or `on, every N days, next TIME`.
fn rotation_text(enabled: bool, rotate_days: u64, next_rotate_time: u64) -> String {
    if !enabled {
        return "off".to_owned();
    }
    let mut text = "on".to_owned();
    if rotate_days > 0 {
        text.push_str(&format!(", every {rotate_days} days"));
    }
    if next_rotate_time > 0 {
        text.push_str(&format!(", next {}", format_time(next_rotate_time)));
    }
    text
}

fn render_list(keys: &[KeyMetadata]) -> String {
    if keys.is_empty() {
        return "no keys (create one with `tkms key create ALIAS`)\n".to_owned();
    }
    let mut out = format!(
        "{:<36}  {:<24}  {:<13}  {:<28}  {}\n",
        "KEY ID", "ALIAS", "STATE", "USAGE", "CREATED"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<36}  {:<24}  {:<13}  {:<28}  {}\n",
            k.key_id,
            k.alias,
            k.key_state,
            k.key_usage,
            format_time(k.create_time),
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
    use clap::ValueEnum as _;

    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_559_318_399), "2019-05-31T15:59:59Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn metadata_rendering_names_material_and_rotation() {
        let meta: KeyMetadata = serde_json::from_value(json!({
            "KeyId": "23e80852-1e38-11e9-b129-5cb9019b4b01", "Alias": "backups", "KeyState": "Enabled",
            "KeyUsage": "ENCRYPT_DECRYPT", "Type": 4, "Origin": "TENCENT_KMS", "CreateTime": 0,
            "KeyRotationEnabled": true, "RotateDays": 90, "NextRotateTime": 86400, "DeletionDate": 0,
        }))
        .unwrap();
        let text = render_metadata(&meta);
        assert!(text.contains("Material     SM4\n"), "{text}");
        assert!(
            text.contains("Rotation     on, every 90 days, next 1970-01-02T00:00:00Z\n"),
            "{text}"
        );
        assert!(!text.contains("Deletion"), "{text}");
    }

    #[test]
    fn every_usage_names_its_material() {
        for usage in KeyUsageArg::value_variants() {
            assert!(!usage.material(false).is_empty(), "{usage:?}");
            assert_eq!(KeyUsageArg::from_api_name(usage.api_name()), Some(*usage));
        }
        assert_eq!(KeyUsageArg::SignSm2.material(true), "SM2", "not SM4");
    }
}
