//! `tkms key sign` and `tkms key verify`: signatures by a KMS key, for every signing usage.
//! Classic keys go through SignByAsymmetricKey / VerifyByAsymmetricKey, ML-DSA-65
//! (ASYMMETRIC_SIGN_VERIFY_DILITHIUM) through PostQuantumCryptoSign / PostQuantumCryptoVerify.

use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::kms::KmsTransport;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{MessageTypeArg, OutputFormat, SignArgs};
use crate::backend::Kms;
use crate::error::{CliError, CliResult, Exit};
use crate::io::open_input;

/// Largest RAW message the KMS signs (docs/kms-api.md, SignByAsymmetricKey).
const MAX_MESSAGE: u64 = 4096;

const USAGE_DILITHIUM: &str = "ASYMMETRIC_SIGN_VERIFY_DILITHIUM";

/// The Algorithm a signing usage signs with unless `--algorithm` says otherwise.
fn default_algorithm(usage: &str) -> Option<&'static str> {
    Some(match usage {
        "ASYMMETRIC_SIGN_VERIFY_SM2" => "SM2DSA",
        "ASYMMETRIC_SIGN_VERIFY_ECC" => "ECC_P256_R1",
        "ASYMMETRIC_SIGN_VERIFY_ECDSA384" => "ECDSA384_SHA384",
        "ASYMMETRIC_SIGN_VERIFY_RSA_2048" | "ASYMMETRIC_SIGN_VERIFY_RSA_3072" => "RSA_PSS_SHA_256",
        USAGE_DILITHIUM => "ML_DSA_65",
        _ => return None,
    })
}

/// What to sign or verify, with the key it names.
struct Call {
    key_id: String,
    algorithm: &'static str,
    post_quantum: bool,
    params: Value,
}

fn prepare(kms: &Kms, args: &SignArgs) -> CliResult<Call> {
    let meta = kms.resolve(&args.name.key)?;
    let Some(default) = default_algorithm(&meta.key_usage) else {
        return Err(CliError::usage(format!(
            "key {} is {}, not a signing key",
            args.name.key, meta.key_usage
        ))
        .with_hint("create one with: tkms key create NAME --usage sign-ecc (or sign-sm2, sign-rsa-2048, sign-rsa-3072, sign-ecdsa-384, dilithium)"));
    };
    let post_quantum = meta.key_usage == USAGE_DILITHIUM;
    let algorithm = match args.algorithm {
        Some(a) => a.api_name(),
        None => default,
    };
    if post_quantum && (algorithm != default || args.message_type == MessageTypeArg::Digest) {
        return Err(CliError::usage(
            "an ML-DSA-65 (dilithium) key signs the whole message: no --algorithm or --message-type digest",
        ));
    }
    let message = read_message(named(args.input.as_deref()))?;
    let mut params = json!({ "KeyId": meta.key_id, "Message": B64.encode(&message) });
    if !post_quantum {
        params["Algorithm"] = json!(algorithm);
        params["MessageType"] = json!(args.message_type.api_name());
    }
    Ok(Call {
        key_id: meta.key_id,
        algorithm,
        post_quantum,
        params,
    })
}

fn named(path: Option<&Path>) -> Option<&Path> {
    path.filter(|p| *p != Path::new("-"))
}

/// The message: a file or standard input, at most 4096 bytes.
fn read_message(path: Option<&Path>) -> CliResult<Vec<u8>> {
    let input = open_input(path)?;
    let mut message = Vec::new();
    input
        .reader
        .take(MAX_MESSAGE + 1)
        .read_to_end(&mut message)
        .map_err(|e| CliError::read(path, &e))?;
    if message.len() as u64 > MAX_MESSAGE {
        return Err(CliError::usage(format!(
            "the message is larger than {MAX_MESSAGE} bytes, the most the KMS signs"
        ))
        .with_hint(
            "sign its SHA-256 digest (SHA-384 for ECDSA384_SHA384) with --message-type digest",
        ));
    }
    Ok(message)
}

fn call(transport: &dyn KmsTransport, action: &str, params: &Value, key: &str) -> CliResult<Value> {
    let body = serde_json::to_vec(params).map_err(|_| CliError::general("request encoding"))?;
    let answer = transport
        .call(action, &body)
        .map_err(|e| CliError::kms(&e, Some(key)))?;
    serde_json::from_slice(&answer)
        .map_err(|_| CliError::general(format!("{action}: malformed answer")))
}

pub(crate) fn sign(kms: &Kms, format: OutputFormat, args: &SignArgs) -> CliResult<()> {
    let c = prepare(kms, args)?;
    let action = if c.post_quantum {
        "PostQuantumCryptoSign"
    } else {
        "SignByAsymmetricKey"
    };
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Signature")]
        signature: String,
    }
    let v = call(&*kms.transport(), action, &c.params, &args.name.key)?;
    let answer: Answer = serde_json::from_value(v)
        .map_err(|_| CliError::general(format!("{action}: no Signature in the answer")))?;
    match format {
        OutputFormat::Text => println!("{}", answer.signature),
        OutputFormat::Json => println!(
            "{}",
            json!({"KeyId": c.key_id, "Algorithm": c.algorithm, "Signature": answer.signature})
        ),
    }
    Ok(())
}

pub(crate) fn verify(
    kms: &Kms,
    format: OutputFormat,
    args: &SignArgs,
    signature: &str,
) -> CliResult<()> {
    let signature = signature.trim();
    if B64.decode(signature).is_err() {
        return Err(CliError::usage(
            "the signature must be base64, as `tkms key sign` prints it",
        ));
    }
    let mut c = prepare(kms, args)?;
    c.params["SignatureValue"] = json!(signature);
    let action = if c.post_quantum {
        "PostQuantumCryptoVerify"
    } else {
        "VerifyByAsymmetricKey"
    };
    let v = call(&*kms.transport(), action, &c.params, &args.name.key)?;
    let valid = v["SignatureValid"]
        .as_bool()
        .ok_or_else(|| CliError::general(format!("{action}: no SignatureValid in the answer")))?;
    match format {
        OutputFormat::Text if valid => {
            println!("signature valid ({}, key {})", c.algorithm, c.key_id)
        }
        OutputFormat::Text => {}
        OutputFormat::Json => println!(
            "{}",
            json!({"KeyId": c.key_id, "Algorithm": c.algorithm, "SignatureValid": valid})
        ),
    }
    if valid {
        Ok(())
    } else {
        Err(CliError::new(
            Exit::Integrity,
            format!(
                "the signature does not verify under key {} ({})",
                c.key_id, c.algorithm
            ),
        ))
    }
}
