//! `tkms key datakey ...`: data keys the KMS keeps for you (hosted data keys, docs/cli.md).

use std::io::Write;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand, ValueEnum};
use kms_core::kms::KmsTransport;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::args::OutputFormat;
use crate::backend::Kms;
use crate::error::{CliError, CliResult};
use crate::io::Sink;
use crate::keys::{emit, format_time};

/// A hosted data key named by DataKeyId or DataKeyName.
#[derive(Debug, Args)]
pub(crate) struct DataKeyName {
    /// DataKeyId or DataKeyName
    #[arg(value_name = "DATAKEY")]
    pub(crate) data_key: String,
}

#[derive(Debug, Subcommand)]
#[command(
    after_help = "A hosted data key lives in the KMS under a CMK: the KMS keeps it sealed and \
gives it back (GetDataKeyPlaintext) only while both the data key and its CMK are enabled.

Examples:
  tkms key datakey create orders-key --key backups --bytes 32
  tkms key datakey list --key backups
  tkms key datakey plaintext orders-key --recipient-pubkey me.pub.pem
  tkms key datakey plaintext orders-key -o orders.key
  tkms key datakey disable orders-key
  tkms key datakey schedule-deletion orders-key --days 7"
)]
pub(crate) enum DataKeyCommand {
    /// Create a data key the KMS keeps (GenerateDataKey with IsHostedByKms=1)
    Create {
        /// Name for the new data key (letters, digits, `-`, `_`; unique)
        #[arg(value_name = "NAME")]
        name: String,
        /// The CMK that protects it: a KeyId or an alias
        #[arg(long, value_name = "KEY")]
        key: String,
        /// Length of the data key in bytes (1-1024)
        #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
        bytes: u64,
        /// Free-text description (at most 100 bytes)
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// List data keys (newest first)
    List {
        /// Only data keys in this state
        #[arg(long, value_enum)]
        state: Option<DataKeyStateArg>,
        /// Only data keys under this CMK (KeyId or alias)
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Only data keys whose id or name contains TEXT
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
    },
    /// Show a data key's metadata
    Describe(DataKeyName),
    /// Enable a disabled data key
    Enable(DataKeyName),
    /// Disable a data key (the KMS no longer gives it out until enabled)
    Disable(DataKeyName),
    /// Schedule a disabled data key for deletion after a waiting period
    ScheduleDeletion {
        #[command(flatten)]
        name: DataKeyName,
        /// Waiting period in days (7-30)
        #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(7..=30))]
        days: u64,
    },
    /// Cancel a scheduled deletion (the data key returns to Disabled)
    CancelDeletion(DataKeyName),
    /// Get the data key itself: sealed to your public key, or raw into a file
    Plaintext {
        #[command(flatten)]
        name: DataKeyName,
        /// Have the KMS seal the data key to this RSA-2048 or SM2 public key (PEM) and print
        /// the result in base64; only the matching private key opens it
        #[arg(long, value_name = "PUBKEY.pem")]
        recipient_pubkey: Option<PathBuf>,
        /// How to seal with --recipient-pubkey [KMS default: sm2]
        #[arg(long, value_enum, requires = "recipient_pubkey")]
        algorithm: Option<SealArg>,
        /// Write the raw data key to FILE (never to the terminal); required without
        /// --recipient-pubkey
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DataKeyStateArg {
    Enabled,
    Disabled,
    PendingDelete,
}

/// EncryptionAlgorithm of GetDataKeyPlaintext (docs/kms-api.md §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SealArg {
    /// SM2, raw C1C3C2
    Sm2,
    /// SM2, C1C3C2 in ASN.1
    #[value(name = "sm2-asn1")]
    Sm2Asn1,
    /// RSA PKCS#1 v1.5
    #[value(name = "rsa-pkcs1")]
    RsaPkcs1,
    /// RSA OAEP with SHA-1
    #[value(name = "rsa-oaep-sha1")]
    RsaOaepSha1,
    /// RSA OAEP with SHA-256
    #[value(name = "rsa-oaep-sha256")]
    RsaOaepSha256,
}

impl SealArg {
    fn api_name(self) -> &'static str {
        match self {
            Self::Sm2 => "SM2",
            Self::Sm2Asn1 => "SM2_C1C3C2_ASN1",
            Self::RsaPkcs1 => "RSAES_PKCS1_V1_5",
            Self::RsaOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaOaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }
}

/// One action, its answer read as `T` (the answer buffer, which may hold a data key, is
/// zeroized).
fn invoke_as<T: DeserializeOwned>(
    kms: &Kms,
    action: &str,
    params: Value,
    name: Option<&str>,
) -> CliResult<T> {
    let body = Zeroizing::new(serde_json::to_vec(&params).expect("JSON values always serialise"));
    let out = kms
        .transport()
        .call(action, &body)
        .map_err(|e| CliError::kms(&e, name))?;
    serde_json::from_slice(&out)
        .map_err(|_| CliError::general(format!("the KMS answered {action} with invalid JSON")))
}

/// One action whose answer holds no secret, without its RequestId.
fn invoke(kms: &Kms, action: &str, params: Value, name: Option<&str>) -> CliResult<Value> {
    let mut value: Value = invoke_as(kms, action, params, name)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("RequestId");
    }
    Ok(value)
}

/// GenerateDataKey's answer without its Plaintext, which `create` never shows.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Created {
    data_key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Plaintext {
    plaintext: Zeroizing<String>,
}

/// A DataKeyId as given, or the id of the data key with exactly this name.
fn resolve(kms: &Kms, name: &str) -> CliResult<String> {
    if kms_core::kms::is_key_id(name) {
        return Ok(name.to_owned());
    }
    let found = all_metadata(kms, json!({ "SearchKeyAlias": name }))?
        .into_iter()
        .find(|m| m["DataKeyName"] == name);
    match found {
        Some(m) => Ok(m["DataKeyId"].as_str().unwrap_or_default().to_owned()),
        None => Err(CliError::usage(format!("no data key is named `{name}`"))
            .with_hint("list them with `tkms key datakey list`")),
    }
}

/// Every page of ListDataKeyDetail with `filter`.
fn all_metadata(kms: &Kms, filter: Value) -> CliResult<Vec<Value>> {
    const PAGE: u64 = 200;
    let mut out = Vec::new();
    loop {
        let mut params = filter.clone();
        params["Offset"] = json!(out.len());
        params["Limit"] = json!(PAGE);
        let page = invoke(kms, "ListDataKeyDetail", params, None)?;
        let items = page["DataKeyMetadatas"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let total = page["TotalCount"].as_u64().unwrap_or(0);
        let done = items.is_empty() || out.len() + items.len() >= total as usize;
        out.extend(items);
        if done {
            return Ok(out);
        }
    }
}

fn describe(kms: &Kms, id: &str, name: &str) -> CliResult<Value> {
    Ok(invoke(
        kms,
        "DescribeDataKey",
        json!({ "DataKeyId": id }),
        Some(name),
    )?["DataKeyMetadata"]
        .take())
}

pub(crate) fn run(command: &DataKeyCommand, kms: &Kms, format: OutputFormat) -> CliResult<()> {
    match command {
        DataKeyCommand::Create {
            name,
            key,
            bytes,
            description,
        } => {
            let key_id = kms.resolve(key)?.key_id;
            let created: Created = invoke_as(
                kms,
                "GenerateDataKey",
                json!({ "KeyId": key_id, "NumberOfBytes": bytes, "IsHostedByKms": 1,
                        "DataKeyName": name, "Description": description.clone().unwrap_or_default() }),
                Some(key),
            )?;
            // The answer's Plaintext is the data key: never shown; `plaintext` fetches it.
            let id = created.data_key_id;
            let meta = describe(kms, &id, name)?;
            emit(format, &meta, || {
                format!(
                    "created data key {id} ({name}) under key {key_id}\n{}get it with: tkms key datakey plaintext {name} --recipient-pubkey PUBKEY.pem\n",
                    render(&meta)
                )
            })
        }
        DataKeyCommand::List { state, key, search } => {
            let mut filter = json!({});
            if let Some(state) = state {
                filter["KeyState"] = json!(match state {
                    DataKeyStateArg::Enabled => 1,
                    DataKeyStateArg::Disabled => 2,
                    DataKeyStateArg::PendingDelete => 3,
                });
            }
            if let Some(key) = key {
                filter["KeyId"] = json!(kms.resolve(key)?.key_id);
            }
            if let Some(search) = search {
                filter["SearchKeyAlias"] = json!(search);
            }
            let keys = all_metadata(kms, filter)?;
            let list = json!({ "TotalCount": keys.len(), "DataKeyMetadatas": keys });
            emit(format, &list, || render_list(&keys))
        }
        DataKeyCommand::Describe(n) => {
            let id = resolve(kms, &n.data_key)?;
            let meta = describe(kms, &id, &n.data_key)?;
            emit(format, &meta, || render(&meta))
        }
        DataKeyCommand::Enable(n) => change(kms, format, &n.data_key, "EnableDataKey", json!({})),
        DataKeyCommand::Disable(n) => change(kms, format, &n.data_key, "DisableDataKey", json!({})),
        DataKeyCommand::CancelDeletion(n) => {
            change(kms, format, &n.data_key, "CancelDataKeyDeletion", json!({}))
        }
        DataKeyCommand::ScheduleDeletion { name, days } => change(
            kms,
            format,
            &name.data_key,
            "ScheduleDataKeyDeletion",
            json!({ "PendingWindowInDays": days }),
        ),
        DataKeyCommand::Plaintext {
            name,
            recipient_pubkey,
            algorithm,
            out,
            force,
        } => plaintext(
            kms,
            format,
            name,
            recipient_pubkey.as_ref(),
            *algorithm,
            out.as_ref(),
            *force,
        ),
    }
}

/// Runs a state action on a data key, then reports its metadata.
fn change(
    kms: &Kms,
    format: OutputFormat,
    name: &str,
    action: &str,
    mut params: Value,
) -> CliResult<()> {
    let id = resolve(kms, name)?;
    params["DataKeyId"] = json!(id);
    invoke(kms, action, params, Some(name))?;
    let meta = describe(kms, &id, name)?;
    emit(format, &meta, || {
        let mut text = format!(
            "data key {id} is now {}\n",
            meta["KeyState"].as_str().unwrap_or("")
        );
        if let Some(date) = meta["DeletionDate"].as_u64().filter(|d| *d > 0) {
            text.push_str(&format!(
                "it will be deleted at {}; until then: tkms key datakey cancel-deletion {id}\n",
                format_time(date)
            ));
        }
        text
    })
}

fn plaintext(
    kms: &Kms,
    format: OutputFormat,
    name: &DataKeyName,
    recipient: Option<&PathBuf>,
    algorithm: Option<SealArg>,
    out: Option<&PathBuf>,
    force: bool,
) -> CliResult<()> {
    let id = resolve(kms, &name.data_key)?;
    let mut params = json!({ "DataKeyId": id });
    if let Some(path) = recipient {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            CliError::read(Some(path), &e)
                .with_hint("--recipient-pubkey takes a PEM public key file")
        })?;
        params["EncryptionPublicKey"] = json!(pem);
        if let Some(algorithm) = algorithm {
            params["EncryptionAlgorithm"] = json!(algorithm.api_name());
        }
    }
    // A refusal may concern the data key or its CMK: the KMS message names which.
    let answer: Plaintext = invoke_as(kms, "GetDataKeyPlaintext", params, None)?;
    let encoded = answer.plaintext;
    let bytes = Zeroizing::new(B64.decode(encoded.as_bytes()).map_err(|_| {
        CliError::general("the KMS answered GetDataKeyPlaintext with invalid base64")
    })?);
    match (out, recipient) {
        (Some(path), _) => {
            let mut sink = Sink::open(Some(path), force)?;
            sink.write_all(&bytes)
                .map_err(|e| CliError::write(Some(path), &e))?;
            sink.commit()
        }
        // Only a sealed data key reaches standard output.
        (None, Some(_)) => {
            let report = json!({ "DataKeyId": id, "Plaintext": *encoded });
            emit(format, &report, || format!("{}\n", *encoded))
        }
        (None, None) => Err(CliError::usage("the raw data key goes only to a file")
            .with_hint("pass -o FILE, or --recipient-pubkey PUBKEY.pem to get it sealed")),
    }
}

fn render(m: &Value) -> String {
    let text = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
    let time = |k: &str| {
        m[k].as_u64()
            .filter(|t| *t > 0)
            .map(format_time)
            .unwrap_or_default()
    };
    let rows = [
        ("DataKeyId", text("DataKeyId")),
        ("Name", text("DataKeyName")),
        ("State", text("KeyState")),
        (
            "Key",
            format!("{} {}", text("KeyId"), text("KeyName"))
                .trim()
                .to_owned(),
        ),
        ("Bytes", m["NumberOfBytes"].to_string()),
        ("Origin", text("Origin")),
        ("Created", time("CreateTime")),
        ("Deletion", time("DeletionDate")),
        ("Description", text("Description")),
    ];
    rows.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k:<12} {v}\n"))
        .collect()
}

fn render_list(keys: &[Value]) -> String {
    if keys.is_empty() {
        return "no data keys (create one with `tkms key datakey create NAME --key KEY`)\n"
            .to_owned();
    }
    let mut out = format!(
        "{:<36}  {:<24}  {:<13}  {:<5}  {}\n",
        "DATA KEY ID", "NAME", "STATE", "BYTES", "KEY ID"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<36}  {:<24}  {:<13}  {:<5}  {}\n",
            k["DataKeyId"].as_str().unwrap_or_default(),
            k["DataKeyName"].as_str().unwrap_or_default(),
            k["KeyState"].as_str().unwrap_or_default(),
            k["NumberOfBytes"].as_u64().unwrap_or_default(),
            k["KeyId"].as_str().unwrap_or_default(),
        ));
    }
    out
}
