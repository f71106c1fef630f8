//! The JSON edge: action name → handler, by the same action families as the core (`lifecycle`,
//! `rotation`, `symmetric`, `asymmetric`, `byok`, `info`); request and response bodies live in
//! `messages`. Parsing is tolerant of any valid JSON layout (Python's `", "` separators, `\u`
//! escapes) and of numbers sent as decimal strings; unknown fields are ignored. Core errors
//! become wire errors here, and only here.

mod asymmetric;
mod byok;
mod info;
mod lifecycle;
mod messages;
mod rotation;
mod symmetric;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::SecretBuf;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::api::{ApiError, CallContext, KmsApi};
use crate::hsm::{Hsm, HsmError};

/// SDK actions this mock knows but does not implement.
const UNSUPPORTED_ACTIONS: &[&str] = &[
    "BindCloudResource",
    "UnbindCloudResource",
    "CancelDataKeyDeletion",
    "DescribeDataKey",
    "DescribeDataKeys",
    "DisableDataKey",
    "DisableDataKeys",
    "EnableDataKey",
    "EnableDataKeys",
    "GetDataKeyCiphertextBlob",
    "GetDataKeyPlaintext",
    "ImportDataKey",
    "ListDataKeyDetail",
    "ListDataKeys",
    "ScheduleDataKeyDeletion",
    "UpdateDataKeyDescription",
    "UpdateDataKeyName",
    "CreateWhiteBoxKey",
    "DeleteWhiteBoxKey",
    "DescribeWhiteBoxDecryptKey",
    "DescribeWhiteBoxDeviceFingerprints",
    "DescribeWhiteBoxKey",
    "DescribeWhiteBoxKeyDetails",
    "DescribeWhiteBoxServiceStatus",
    "DisableWhiteBoxKey",
    "DisableWhiteBoxKeys",
    "EnableWhiteBoxKey",
    "EnableWhiteBoxKeys",
    "EncryptByWhiteBox",
    "OverwriteWhiteBoxDeviceFingerprints",
    "PostQuantumCryptoDecrypt",
    "PostQuantumCryptoEncrypt",
    "PostQuantumCryptoSign",
    "PostQuantumCryptoVerify",
];

fn err<E: From<ApiError>>(code: &str, message: impl Into<String>) -> E {
    ApiError::new(code, message).into()
}

impl From<HsmError> for ApiError {
    /// The wire error of a core error raised outside any action (maintenance, reset, export).
    fn from(e: HsmError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

/// Why a call failed: the core refused it, or the request itself is wrong.
#[derive(Debug)]
enum CallError {
    Core(HsmError),
    Request(ApiError),
}

impl From<HsmError> for CallError {
    fn from(e: HsmError) -> Self {
        Self::Core(e)
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        Self::Request(e)
    }
}

impl CallError {
    /// The wire error; core messages about a key's state or usage read after the action name.
    fn into_wire(self, action: &str) -> ApiError {
        match self {
            Self::Core(e) if e.names_action() => ApiError::new(e.code(), format!("{action} {e}")),
            Self::Core(e) => e.into(),
            Self::Request(e) => e,
        }
    }
}

impl KmsApi for Hsm {
    fn dispatch(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        call(self, ctx, action, params).map_err(|e| e.into_wire(action))
    }

    // The server's hooks (timer and test controls), delegating to the inherent methods.
    fn tick(&self) {
        if let Err(e) = self.run_due_rotations() {
            tracing_hook(&e);
        }
    }

    fn mock_clock(&self) -> Option<&crate::clock::MockClock> {
        Hsm::mock_clock(self).map(|clock| &**clock)
    }

    fn reset(&self) -> Result<(), ApiError> {
        Hsm::reset(self)
    }

    fn key_resource(&self, key_id: &str) -> Option<std::sync::Arc<crate::KeyResource>> {
        Hsm::key_resource(self, key_id)
    }
}

/// Runs one action: each arm names the family handler that parses, calls the core and answers.
fn call(
    hsm: &Hsm,
    ctx: &CallContext,
    action: &str,
    p: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CallError> {
    let scope = hsm.scope(ctx);
    match action {
        "CreateKey" => respond(ctx, lifecycle::create_key(hsm, scope, p)?),
        "DescribeKey" => respond(ctx, lifecycle::describe_key(hsm, scope, p)?),
        "DescribeKeys" => respond(ctx, lifecycle::describe_keys(hsm, scope, p)?),
        "ListKeys" => respond(ctx, lifecycle::list_keys(hsm, scope, p)?),
        "ListKeyDetail" => respond(ctx, lifecycle::list_key_detail(hsm, scope, p)?),
        "UpdateAlias" => respond(ctx, lifecycle::update_alias(hsm, scope, p)?),
        "UpdateKeyDescription" => respond(ctx, lifecycle::update_description(hsm, scope, p)?),
        "EnableKey" => respond(ctx, lifecycle::set_enabled(hsm, scope, p, true)?),
        "DisableKey" => respond(ctx, lifecycle::set_enabled(hsm, scope, p, false)?),
        "EnableKeys" => respond(ctx, lifecycle::set_all_enabled(hsm, scope, p, true)?),
        "DisableKeys" => respond(ctx, lifecycle::set_all_enabled(hsm, scope, p, false)?),
        "ScheduleKeyDeletion" => respond(ctx, lifecycle::schedule_deletion(hsm, scope, p)?),
        "CancelKeyDeletion" => respond(ctx, lifecycle::cancel_deletion(hsm, scope, p)?),
        "ArchiveKey" => respond(ctx, lifecycle::archive(hsm, scope, p, true)?),
        "CancelKeyArchive" => respond(ctx, lifecycle::archive(hsm, scope, p, false)?),
        "EnableKeyRotation" => respond(ctx, rotation::enable_rotation(hsm, scope, p)?),
        "DisableKeyRotation" => respond(ctx, rotation::disable_rotation(hsm, scope, p)?),
        "GetKeyRotationStatus" => respond(ctx, rotation::rotation_status(hsm, scope, p)?),
        "RotateKey" => respond(ctx, rotation::rotate_now(hsm, scope, p)?),
        "Encrypt" => respond(ctx, symmetric::encrypt(hsm, scope, p)?),
        "Decrypt" => respond(ctx, symmetric::decrypt(hsm, scope, p)?),
        "ReEncrypt" => respond(ctx, symmetric::re_encrypt(hsm, scope, p)?),
        "GenerateDataKey" => respond(ctx, symmetric::generate_data_key(hsm, scope, p)?),
        "GenerateRandom" => respond(ctx, symmetric::generate_random(hsm, scope, p)?),
        "GetPublicKey" => respond(ctx, asymmetric::public_key(hsm, scope, p)?),
        "AsymmetricRsaDecrypt" => respond(ctx, asymmetric::rsa_decrypt(hsm, scope, p)?),
        "AsymmetricSm2Decrypt" => respond(ctx, asymmetric::sm2_decrypt(hsm, scope, p)?),
        "SignByAsymmetricKey" => respond(ctx, asymmetric::sign(hsm, scope, p)?),
        "VerifyByAsymmetricKey" => respond(ctx, asymmetric::verify(hsm, scope, p)?),
        "GetParametersForImport" => respond(ctx, byok::parameters_for_import(hsm, scope, p)?),
        "ImportKeyMaterial" => respond(ctx, byok::import_key_material(hsm, scope, p)?),
        "DeleteImportedKeyMaterial" => respond(ctx, byok::delete_imported_material(hsm, scope, p)?),
        "ListAlgorithms" => respond(ctx, info::list_algorithms(hsm, scope, p)?),
        "GetServiceStatus" => respond(ctx, info::service_status(hsm, scope, p)?),
        "GetRegions" => respond(ctx, info::regions(hsm, scope, p)?),
        other if UNSUPPORTED_ACTIONS.contains(&other) => Err(err(
            "UnsupportedOperation",
            format!(
                "{other} (white-box keys, hosted data keys, post-quantum keys or cloud-resource binding) is not supported by the tkms mock"
            ),
        )),
        other => Err(err(
            "InvalidAction",
            format!("action {other} does not exist in KMS 2019-01-18"),
        )),
    }
}

/// Scheduled maintenance has no caller to report to: log it when the server's logging is built in.
fn tracing_hook(error: &ApiError) {
    #[cfg(feature = "server")]
    tracing::error!(code = %error.code, detail = %error.message, "scheduled key maintenance failed");
    #[cfg(not(feature = "server"))]
    let _ = error;
}

fn parse<T: DeserializeOwned>(params: &[u8]) -> Result<T, ApiError> {
    let params: &[u8] = if params.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        params
    };
    serde_json::from_slice(params).map_err(|e| {
        let text = e.to_string();
        if let Some(rest) = text.strip_prefix("missing field `") {
            let field = rest.split('`').next().unwrap_or("");
            err(
                "MissingParameter",
                format!("the required parameter {field} is missing"),
            )
        } else if e.is_data() {
            // Never echo values (they may be secrets): keep only what was expected.
            let expected = text
                .split(", expected ")
                .nth(1)
                .map(|s| s.split(" at line").next().unwrap_or(s));
            match expected {
                Some(exp) => err(
                    "InvalidParameter",
                    format!("a parameter has the wrong type: expected {exp}"),
                ),
                None => err(
                    "InvalidParameter",
                    "a parameter has the wrong type or value",
                ),
            }
        } else {
            err(
                "InvalidParameter",
                "the request parameters are not a JSON object",
            )
        }
    })
}

fn decode_b64(text: &str, field: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    B64.decode(text.trim()).map(Zeroizing::new).map_err(|_| {
        err::<ApiError>(
            "InvalidParameter",
            format!("{field} must be standard base64"),
        )
    })
}

#[derive(Serialize)]
struct WithRequestId<'a, T: Serialize> {
    #[serde(flatten)]
    body: T,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

fn respond(ctx: &CallContext, body: impl Serialize) -> Result<Zeroizing<Vec<u8>>, CallError> {
    // The answer may hold plaintext or a data key: it grows without leaving copies behind.
    SecretBuf::json(&WithRequestId {
        body,
        request_id: &ctx.request_id,
    })
    .map_err(|_| err("InternalError", "response serialisation failed"))
}
