//! The JSON edge: action name → handler, by the same action families as the core (`lifecycle`,
//! `rotation`, `symmetric`, `asymmetric`, `byok`, `info`, `whitebox`, `datakeys`); request and
//! response bodies live in `messages` (white-box ones in `whitebox/messages.rs`, data-key ones in
//! `datakeys.rs`). Parsing is tolerant of any valid JSON layout (Python's `", "` separators, `\u`
//! escapes) and of numbers sent as decimal strings; unknown fields are ignored. Core errors
//! become wire errors here, and only here.

mod asymmetric;
mod bindings;
mod byok;
mod datakeys;
mod fields;
mod info;
mod lifecycle;
mod messages;
mod pqc;
mod request;
mod rotation;
mod symmetric;
mod whitebox;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::internal::SecretBuf;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::api::{Admission, Admit, ApiError, CallContext, KmsApi, admit_lenient};
use crate::hsm::{Hsm, HsmError};
use request::Request;

/// SDK actions this mock knows but does not implement.
const UNSUPPORTED_ACTIONS: &[&str] = &[];

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
        self.check_region(&ctx.region)?;
        fields::check(action, params)?;
        let request = Request::parse(action, params)?;
        run(self, ctx, request).map_err(|e| e.into_wire(action))
    }

    /// One parse feeds both `admit` and the call, and the call runs in this same entry.
    fn dispatch_admitted(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &[u8],
        admit: &mut Admit<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        self.check_region(&ctx.region)?;
        let mut ctx = ctx.clone();
        let lookup = |key_id: &str| self.key_resource(key_id);
        match fields::check(action, params).and_then(|()| Request::parse(action, params)) {
            Ok(request) => {
                let targets = request.targets(&|id| self.data_key_cmk(id));
                admit(
                    Admission {
                        targets: Ok(&targets),
                        lookup: &lookup,
                    },
                    &mut ctx,
                )?;
                run(self, &ctx, request).map_err(|e| e.into_wire(action))
            }
            Err(refused) => {
                admit_lenient(self, action, params, admit, &mut ctx)?;
                Err(refused)
            }
        }
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

/// Runs one parsed call: each arm names the family handler that calls the core and answers.
fn run(hsm: &Hsm, ctx: &CallContext, request: Request) -> Result<Zeroizing<Vec<u8>>, CallError> {
    let scope = hsm.scope(ctx);
    match request {
        Request::CreateKey(r) => respond(ctx, lifecycle::create_key(hsm, scope, r)?),
        Request::DescribeKey(r) => respond(ctx, lifecycle::describe_key(hsm, scope, r)?),
        Request::DescribeKeys(r) => respond(ctx, lifecycle::describe_keys(hsm, scope, r)?),
        Request::ListKeys(r) => respond(ctx, lifecycle::list_keys(hsm, scope, r)?),
        Request::ListKeyDetail(r) => respond(ctx, lifecycle::list_key_detail(hsm, scope, r)?),
        Request::UpdateAlias(r) => respond(ctx, lifecycle::update_alias(hsm, scope, r)?),
        Request::UpdateKeyDescription(r) => {
            respond(ctx, lifecycle::update_description(hsm, scope, r)?)
        }
        Request::EnableKey(r) => respond(ctx, lifecycle::set_enabled(hsm, scope, r, true)?),
        Request::DisableKey(r) => respond(ctx, lifecycle::set_enabled(hsm, scope, r, false)?),
        Request::EnableKeys(r) => respond(ctx, lifecycle::set_all_enabled(hsm, scope, r, true)?),
        Request::DisableKeys(r) => respond(ctx, lifecycle::set_all_enabled(hsm, scope, r, false)?),
        Request::ScheduleKeyDeletion(r) => {
            respond(ctx, lifecycle::schedule_deletion(hsm, scope, r)?)
        }
        Request::CancelKeyDeletion(r) => respond(ctx, lifecycle::cancel_deletion(hsm, scope, r)?),
        Request::ArchiveKey(r) => respond(ctx, lifecycle::archive(hsm, scope, r, true)?),
        Request::CancelKeyArchive(r) => respond(ctx, lifecycle::archive(hsm, scope, r, false)?),
        Request::EnableKeyRotation(r) => respond(ctx, rotation::enable_rotation(hsm, scope, r)?),
        Request::DisableKeyRotation(r) => respond(ctx, rotation::disable_rotation(hsm, scope, r)?),
        Request::GetKeyRotationStatus(r) => respond(ctx, rotation::rotation_status(hsm, scope, r)?),
        Request::RotateKey(r) => respond(ctx, rotation::rotate_now(hsm, scope, r)?),
        Request::Encrypt(r) => respond(ctx, symmetric::encrypt(hsm, scope, r)?),
        Request::Decrypt(r, blob) => respond(ctx, symmetric::decrypt(hsm, scope, r, blob)?),
        Request::ReEncrypt(r, blob) => respond(ctx, symmetric::re_encrypt(hsm, scope, r, blob)?),
        Request::GenerateDataKey(r) => respond(ctx, symmetric::generate_data_key(hsm, scope, r)?),
        Request::GenerateRandom(r) => respond(ctx, symmetric::generate_random(hsm, scope, r)?),
        Request::GetPublicKey(r) => respond(ctx, asymmetric::public_key(hsm, scope, r)?),
        Request::AsymmetricRsaDecrypt(r) => respond(ctx, asymmetric::rsa_decrypt(hsm, scope, r)?),
        Request::AsymmetricSm2Decrypt(r) => respond(ctx, asymmetric::sm2_decrypt(hsm, scope, r)?),
        Request::SignByAsymmetricKey(r) => respond(ctx, asymmetric::sign(hsm, scope, r)?),
        Request::VerifyByAsymmetricKey(r) => respond(ctx, asymmetric::verify(hsm, scope, r)?),
        Request::GetParametersForImport(r) => {
            respond(ctx, byok::parameters_for_import(hsm, scope, r)?)
        }
        Request::ImportKeyMaterial(r) => respond(ctx, byok::import_key_material(hsm, scope, r)?),
        Request::DeleteImportedKeyMaterial(r) => {
            respond(ctx, byok::delete_imported_material(hsm, scope, r)?)
        }
        Request::PostQuantumCryptoEncrypt(r) => respond(ctx, pqc::encrypt(hsm, scope, r)?),
        Request::PostQuantumCryptoDecrypt(r, blob) => {
            respond(ctx, pqc::decrypt(hsm, scope, r, blob)?)
        }
        Request::PostQuantumCryptoSign(r) => respond(ctx, pqc::sign(hsm, scope, r)?),
        Request::PostQuantumCryptoVerify(r) => respond(ctx, pqc::verify(hsm, scope, r)?),
        Request::BindCloudResource(r) => respond(ctx, bindings::set(hsm, scope, r, true)?),
        Request::UnbindCloudResource(r) => respond(ctx, bindings::set(hsm, scope, r, false)?),
        Request::ListAlgorithms => respond(ctx, info::list_algorithms(hsm, scope)?),
        Request::GetServiceStatus => respond(ctx, info::service_status(hsm, scope)?),
        Request::GetRegions => respond(ctx, info::regions(hsm)?),
        Request::WhiteBox(r) => whitebox::run(hsm, ctx, scope, r),
        Request::DataKey(call) => datakeys::run(hsm, ctx, scope, call),
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

/// A decrypted plaintext as the answer carries it: base64, sealed to the caller's
/// `EncryptionPublicKey` when one was given (docs/kms-api.md §4.6).
fn answer_plaintext(
    hsm: &Hsm,
    plaintext: Zeroizing<Vec<u8>>,
    public_key: Option<&str>,
    algorithm: Option<&str>,
) -> Result<Zeroizing<String>, CallError> {
    let out = hsm.seal_for_caller(plaintext, public_key, algorithm)?;
    Ok(Zeroizing::new(B64.encode(&out[..])))
}

/// A plaintext field: base64, else `InvalidParameterValue.InvalidPlaintext`.
fn decode_plaintext(text: &str, field: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    B64.decode(text.trim()).map(Zeroizing::new).map_err(|_| {
        err::<ApiError>(
            "InvalidParameterValue.InvalidPlaintext",
            format!("{field} must be standard base64"),
        )
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
