//! `tkms inspect`: a file's header, without any key.

use std::io::Write;

use kms_core::Header;
use kms_core::wrap::KeyRef;
use serde_json::json;

use crate::args::{InspectArgs, OutputFormat};
use crate::crypt::read_header;
use crate::error::{CliError, CliResult};
use crate::io::{named_path, open_input};

pub(crate) fn inspect(args: &InspectArgs) -> CliResult<()> {
    let path = named_path(args.input.as_ref());
    let mut input = open_input(path)?;
    let (header, _) = read_header(&mut input.reader, path)?;
    let text = match args.output {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&to_json(&header))
                .expect("JSON values always serialise");
            s.push('\n');
            s
        }
        OutputFormat::Text => to_text(&header),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::write(None, &e))
}

fn key_ref_json(key_ref: &KeyRef) -> serde_json::Value {
    match key_ref {
        KeyRef::Kms { key_id } => json!({ "kms_key_id": key_id }),
        KeyRef::PublicKey { fingerprint } => {
            json!({ "public_key_sha256": hex_encode(fingerprint) })
        }
        other => json!({ "other": other.to_string() }),
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn to_json(header: &Header) -> serde_json::Value {
    let context: serde_json::Map<String, serde_json::Value> = header
        .context
        .iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let wrapped: Vec<serde_json::Value> = header
        .wrapped_keys
        .iter()
        .map(|w| {
            let mut entry = key_ref_json(&w.key_ref);
            entry["method"] = json!(w.method.name());
            entry["wrapped_len"] = json!(w.ciphertext.len());
            entry
        })
        .collect();
    json!({
        "version": header.version,
        "suite": header.suite.name(),
        "frame_size": header.frame_size,
        "context": context,
        "wrapped_keys": wrapped,
    })
}

pub(crate) fn to_text(header: &Header) -> String {
    let mut out = String::new();
    out.push_str(&format!("tkms envelope v{}\n", header.version));
    out.push_str(&format!("suite:       {}\n", header.suite.name()));
    out.push_str(&format!("frame size:  {} bytes\n", header.frame_size));
    if header.context.is_empty() {
        out.push_str("context:     (none)\n");
    } else {
        out.push_str("context:\n");
        for (k, v) in header.context.iter() {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out.push_str(&format!("wrapped keys ({}):\n", header.wrapped_keys.len()));
    for w in &header.wrapped_keys {
        let target = match &w.key_ref {
            KeyRef::Kms { key_id } => format!("KMS key {key_id}"),
            KeyRef::PublicKey { fingerprint } => {
                format!("public key sha256:{}", hex_encode(fingerprint))
            }
            other => other.to_string(),
        };
        out.push_str(&format!("  {:<16} {target}\n", w.method.name()));
    }
    out
}
