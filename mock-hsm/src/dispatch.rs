//! The JSON edge: action name → handler, PascalCase request and response DTOs (Tencent Cloud KMS
//! 2019-01-18). Parsing is tolerant of any valid JSON layout (Python's `", "` separators, `\u`
//! escapes) and of numbers sent as decimal strings; unknown fields are ignored.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::SecretBuf;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use crate::api::{ApiError, CallContext, KmsApi};
use crate::hsm::{
    Accept, Hsm, HsmError, KeyFilter, KeyInfo, KeyState, KeyUsage, NewKey, Origin, REGIONS, Scope,
};
use crate::material::{RsaPadding, SignAlgorithm, SignInput, public_key_pem};

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

fn call(
    hsm: &Hsm,
    ctx: &CallContext,
    action: &str,
    params: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CallError> {
    {
        let scope = hsm.scope(ctx);
        let p = params;
        match action {
            "CreateKey" => respond(ctx, create_key(hsm, scope, p)?),
            "DescribeKey" => respond(ctx, describe_key(hsm, scope, p)?),
            "DescribeKeys" => respond(ctx, describe_keys(hsm, scope, p)?),
            "ListKeys" => respond(ctx, list_keys(hsm, scope, p)?),
            "ListKeyDetail" => respond(ctx, list_key_detail(hsm, scope, p)?),
            "UpdateAlias" => {
                let r: AliasReq = parse(p)?;
                hsm.update_alias(scope, &r.key_id, &r.alias)?;
                respond(ctx, Empty {})
            }
            "UpdateKeyDescription" => {
                let r: DescriptionReq = parse(p)?;
                hsm.update_description(scope, &r.key_id, &r.description)?;
                respond(ctx, Empty {})
            }
            "EnableKey" | "DisableKey" => {
                let r: KeyIdReq = parse(p)?;
                hsm.set_enabled(scope, &[r.key_id], action == "EnableKey")?;
                respond(ctx, Empty {})
            }
            "EnableKeys" | "DisableKeys" => {
                let r: KeyIdsReq = parse(p)?;
                hsm.set_enabled(scope, &r.key_ids, action == "EnableKeys")?;
                respond(ctx, Empty {})
            }
            "ScheduleKeyDeletion" => {
                let r: ScheduleReq = parse(p)?;
                let deletion_date =
                    hsm.schedule_deletion(scope, &r.key_id, r.pending_window_in_days)?;
                respond(
                    ctx,
                    ScheduleResp {
                        deletion_date,
                        key_id: r.key_id,
                    },
                )
            }
            "CancelKeyDeletion" => {
                let r: KeyIdReq = parse(p)?;
                hsm.cancel_deletion(scope, &r.key_id)?;
                respond(ctx, KeyIdResp { key_id: r.key_id })
            }
            "ArchiveKey" | "CancelKeyArchive" => {
                let r: KeyIdReq = parse(p)?;
                hsm.archive(scope, &r.key_id, action == "ArchiveKey")?;
                respond(ctx, Empty {})
            }
            "EnableKeyRotation" => {
                let r: RotationReq = parse(p)?;
                hsm.enable_rotation(scope, &r.key_id, r.rotate_days)?;
                respond(ctx, Empty {})
            }
            "DisableKeyRotation" => {
                let r: KeyIdReq = parse(p)?;
                hsm.disable_rotation(scope, &r.key_id)?;
                respond(ctx, Empty {})
            }
            "GetKeyRotationStatus" => {
                let r: KeyIdReq = parse(p)?;
                let key_rotation_enabled = hsm.rotation_status(scope, &r.key_id)?;
                respond(
                    ctx,
                    RotationStatusResp {
                        key_rotation_enabled,
                    },
                )
            }
            "RotateKey" => {
                let r: KeyIdReq = parse(p)?;
                hsm.rotate_now(scope, &r.key_id)?;
                respond(
                    ctx,
                    TaskResp {
                        task_id: uuid::Uuid::new_v4().to_string(),
                    },
                )
            }
            "Encrypt" => respond(ctx, encrypt(hsm, scope, p)?),
            "Decrypt" => respond(ctx, decrypt(hsm, scope, p)?),
            "ReEncrypt" => respond(ctx, re_encrypt(hsm, scope, p)?),
            "GenerateDataKey" => respond(ctx, generate_data_key(hsm, scope, p)?),
            "GenerateRandom" => {
                let r: RandomReq = parse(p)?;
                if !(1..=1024).contains(&r.number_of_bytes) {
                    return Err(err("InvalidParameter", "NumberOfBytes must be 1 to 1024"));
                }
                let bytes = crate::material::random_bytes(r.number_of_bytes as usize)
                    .map_err(|_| err::<ApiError>("InternalError", "random generator failed"))?;
                respond(
                    ctx,
                    PlaintextResp {
                        key_id: None,
                        plaintext: Zeroizing::new(B64.encode(&bytes[..])),
                    },
                )
            }
            "GetPublicKey" => {
                let r: KeyIdReq = parse(p)?;
                let der = hsm.public_key(scope, &r.key_id)?;
                respond(
                    ctx,
                    PublicKeyResp {
                        public_key: B64.encode(&der),
                        public_key_pem: public_key_pem(&der),
                        key_id: r.key_id,
                    },
                )
            }
            "AsymmetricRsaDecrypt" => {
                let r: RsaDecryptReq = parse(p)?;
                let padding = RsaPadding::from_name(&r.algorithm).ok_or_else(|| {
                    err::<ApiError>("InvalidParameter", "Algorithm must be RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256")
                })?;
                let ciphertext = decode_b64(&r.ciphertext, "Ciphertext")?;
                let plaintext = hsm.rsa_decrypt(scope, &r.key_id, padding, &ciphertext)?;
                respond(
                    ctx,
                    PlaintextResp {
                        key_id: Some(r.key_id),
                        plaintext: Zeroizing::new(B64.encode(&plaintext[..])),
                    },
                )
            }
            "AsymmetricSm2Decrypt" => {
                let r: Sm2DecryptReq = parse(p)?;
                let ciphertext = decode_b64(&r.ciphertext, "Ciphertext")?;
                let plaintext = hsm.sm2_decrypt(scope, &r.key_id, &ciphertext)?;
                respond(
                    ctx,
                    PlaintextResp {
                        key_id: Some(r.key_id),
                        plaintext: Zeroizing::new(B64.encode(&plaintext[..])),
                    },
                )
            }
            "SignByAsymmetricKey" => {
                let r: SignReq = parse(p)?;
                let (algorithm, message) =
                    sign_inputs(&r.algorithm, &r.message, r.message_type.as_deref())?;
                let signature = hsm.sign(
                    scope,
                    &r.key_id,
                    algorithm,
                    sign_input(&message, r.message_type.as_deref())?,
                )?;
                respond(
                    ctx,
                    SignResp {
                        signature: B64.encode(signature),
                    },
                )
            }
            "VerifyByAsymmetricKey" => {
                let r: VerifyReq = parse(p)?;
                let (algorithm, message) =
                    sign_inputs(&r.algorithm, &r.message, r.message_type.as_deref())?;
                let signature = decode_b64(&r.signature_value, "SignatureValue")?;
                let signature_valid = hsm.verify(
                    scope,
                    &r.key_id,
                    algorithm,
                    sign_input(&message, r.message_type.as_deref())?,
                    &signature,
                )?;
                respond(ctx, VerifyResp { signature_valid })
            }
            "GetParametersForImport" => {
                let r: ImportParamsReq = parse(p)?;
                let padding = RsaPadding::from_name(&r.wrapping_algorithm).ok_or_else(|| {
                    err::<ApiError>("InvalidParameter", "WrappingAlgorithm must be RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256")
                })?;
                if r.wrapping_key_spec != "RSA_2048" {
                    return Err(err("InvalidParameter", "WrappingKeySpec must be RSA_2048"));
                }
                let params = hsm.parameters_for_import(scope, &r.key_id, padding)?;
                respond(
                    ctx,
                    ImportParamsResp {
                        key_id: r.key_id,
                        import_token: params.token,
                        public_key: B64.encode(&params.public_key_der),
                        parameters_valid_to: params.valid_to,
                    },
                )
            }
            "ImportKeyMaterial" => {
                let r: ImportReq = parse(p)?;
                let material = decode_b64(&r.encrypted_key_material, "EncryptedKeyMaterial")?;
                hsm.import_key_material(
                    scope,
                    &r.key_id,
                    &r.import_token,
                    &material,
                    r.valid_to.unwrap_or(0),
                )?;
                respond(ctx, Empty {})
            }
            "DeleteImportedKeyMaterial" => {
                let r: KeyIdReq = parse(p)?;
                hsm.delete_imported_material(scope, &r.key_id)?;
                respond(ctx, Empty {})
            }
            "ListAlgorithms" => respond(ctx, list_algorithms(hsm, scope)),
            "GetServiceStatus" => respond(ctx, service_status()),
            "GetRegions" => respond(
                ctx,
                RegionsResp {
                    regions: regions(hsm),
                },
            ),
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
}

/// Scheduled maintenance has no caller to report to: log it when the server's logging is built in.
fn tracing_hook(error: &ApiError) {
    #[cfg(feature = "server")]
    tracing::error!(code = %error.code, detail = %error.message, "scheduled key maintenance failed");
    #[cfg(not(feature = "server"))]
    let _ = error;
}

// ---- parsing ----

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

/// Integers may arrive as JSON numbers or as decimal strings (GET / form requests).
fn de_u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(u64),
        S(String),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::N(n)) => Ok(Some(n)),
        Some(Num::S(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("invalid type: string, expected u64")),
    }
}

fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_u64_opt(d)?.ok_or_else(|| serde::de::Error::custom("invalid type: null, expected u64"))
}

fn decode_b64(text: &str, field: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    B64.decode(text.trim()).map(Zeroizing::new).map_err(|_| {
        err::<ApiError>(
            "InvalidParameter",
            format!("{field} must be standard base64"),
        )
    })
}

// ---- requests ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdReq {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdsReq {
    key_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasReq {
    key_id: String,
    alias: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescriptionReq {
    key_id: String,
    description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleReq {
    key_id: String,
    #[serde(deserialize_with = "de_u64")]
    pending_window_in_days: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotationReq {
    key_id: String,
    #[serde(default, deserialize_with = "de_u64_opt")]
    rotate_days: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    tag_key: String,
    tag_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagFilter {
    tag_key: String,
    #[serde(default)]
    tag_value: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyReq {
    alias: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    key_usage: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    r#type: Option<u64>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    hsm_cluster_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListReq {
    #[serde(default, deserialize_with = "de_u64_opt")]
    offset: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    limit: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    role: Option<u64>,
    #[serde(default)]
    hsm_cluster_id: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    order_type: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    key_state: Option<u64>,
    #[serde(default)]
    search_key_alias: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    key_usage: Option<String>,
    #[serde(default)]
    tag_filters: Vec<TagFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptReq {
    key_id: String,
    plaintext: Zeroizing<String>,
    #[serde(default)]
    encryption_context: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptReq {
    ciphertext_blob: String,
    #[serde(default)]
    encryption_context: Option<String>,
    #[serde(default)]
    encryption_public_key: Option<String>,
    #[serde(default)]
    encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptReq {
    ciphertext_blob: String,
    #[serde(default)]
    destination_key_id: Option<String>,
    #[serde(default)]
    source_encryption_context: Option<String>,
    #[serde(default)]
    destination_encryption_context: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyReq {
    key_id: String,
    #[serde(default)]
    key_spec: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    number_of_bytes: Option<u64>,
    #[serde(default)]
    encryption_context: Option<String>,
    #[serde(default)]
    encryption_public_key: Option<String>,
    #[serde(default)]
    encryption_algorithm: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    is_hosted_by_kms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RandomReq {
    #[serde(deserialize_with = "de_u64")]
    number_of_bytes: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RsaDecryptReq {
    key_id: String,
    ciphertext: String,
    algorithm: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Sm2DecryptReq {
    key_id: String,
    ciphertext: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignReq {
    key_id: String,
    algorithm: String,
    message: String,
    #[serde(default)]
    message_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyReq {
    key_id: String,
    algorithm: String,
    message: String,
    signature_value: String,
    #[serde(default)]
    message_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImportParamsReq {
    key_id: String,
    wrapping_algorithm: String,
    wrapping_key_spec: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImportReq {
    key_id: String,
    encrypted_key_material: String,
    import_token: String,
    #[serde(default, deserialize_with = "de_u64_opt")]
    valid_to: Option<u64>,
}

// ---- responses ----

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

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdResp {
    key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleResp {
    deletion_date: u64,
    key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotationStatusResp {
    key_rotation_enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TaskResp {
    task_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PlaintextResp {
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    plaintext: Zeroizing<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptResp {
    ciphertext_blob: String,
    key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyResp {
    key_id: String,
    plaintext: Zeroizing<String>,
    ciphertext_blob: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptResp {
    ciphertext_blob: String,
    key_id: String,
    source_key_id: String,
    re_encrypted: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PublicKeyResp {
    key_id: String,
    public_key: String,
    public_key_pem: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignResp {
    signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyResp {
    signature_valid: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImportParamsResp {
    key_id: String,
    import_token: String,
    public_key: String,
    parameters_valid_to: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegionsResp {
    regions: Vec<String>,
}

/// KeyMetadata as the API returns it (the first 18 fields of §4.4, plus IsSyncReplica).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadata {
    key_id: String,
    alias: String,
    create_time: u64,
    description: String,
    key_state: KeyState,
    key_usage: KeyUsage,
    #[serde(rename = "Type")]
    key_type: i64,
    creator_uin: u64,
    key_rotation_enabled: bool,
    owner: &'static str,
    next_rotate_time: u64,
    deletion_date: u64,
    origin: Origin,
    valid_to: u64,
    resource_id: String,
    hsm_cluster_id: &'static str,
    rotate_days: u64,
    last_rotate_time: u64,
    is_sync_replica: u64,
}

fn metadata(info: &KeyInfo) -> KeyMetadata {
    let r = &info.row;
    KeyMetadata {
        key_id: r.key_id.clone(),
        alias: r.alias.clone(),
        create_time: r.create_time,
        description: r.description.clone(),
        key_state: r.key_state,
        key_usage: r.key_usage,
        key_type: if r.algorithm.is_sm() { 4 } else { 2 },
        creator_uin: r.account_uin,
        key_rotation_enabled: r.rotation_enabled,
        owner: "user",
        next_rotate_time: r.next_rotate_time,
        deletion_date: r.deletion_date,
        origin: r.origin,
        valid_to: r.valid_to,
        resource_id: format!("creatorUin/{}/{}", r.account_uin, r.key_id),
        hsm_cluster_id: "",
        rotate_days: r.rotate_days,
        last_rotate_time: r.last_rotate_time,
        is_sync_replica: 0,
    }
}

// ---- handlers ----

fn check_cluster(cluster: Option<&str>) -> Result<(), ApiError> {
    match cluster {
        None | Some("") | Some("default") => Ok(()),
        Some(_) => Err(err(
            "InvalidParameterValue.InvalidHsmClusterId",
            "the mock has only the shared cluster (HsmClusterId \"\" or \"default\")",
        )),
    }
}

fn create_key(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: CreateKeyReq = parse(p)?;
    check_cluster(r.hsm_cluster_id.as_deref())?;
    let external = match r.r#type.unwrap_or(1) {
        1 => false,
        2 => true,
        _ => {
            return Err(err(
                "InvalidParameterValue.InvalidType",
                "Type must be 1 (KMS-generated) or 2 (EXTERNAL)",
            ));
        }
    };
    let row = hsm.create_key(
        scope,
        NewKey {
            alias: r.alias,
            description: r.description,
            key_usage: match r.key_usage.as_deref() {
                None | Some("") => KeyUsage::EncryptDecrypt,
                Some(usage) => KeyUsage::parse(usage)
                    .ok_or_else(|| HsmError::UnsupportedUsage(usage.to_owned()))?,
            },
            external,
            tags: r
                .tags
                .into_iter()
                .map(|t| (t.tag_key, t.tag_value))
                .collect(),
        },
    )?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        key_id: String,
        alias: String,
        create_time: u64,
        description: String,
        key_state: KeyState,
        key_usage: KeyUsage,
        tag_code: u64,
        tag_msg: &'static str,
        hsm_cluster_id: &'static str,
    }
    Ok(Resp {
        key_id: row.key_id,
        alias: row.alias,
        create_time: row.create_time,
        description: row.description,
        key_state: row.key_state,
        key_usage: row.key_usage,
        tag_code: 0,
        tag_msg: "ok",
        hsm_cluster_id: "",
    })
}

fn describe_key(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: KeyIdReq = parse(p)?;
    let info = hsm.describe_key(scope, &r.key_id)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        key_metadata: KeyMetadata,
    }
    Ok(Resp {
        key_metadata: metadata(&info),
    })
}

fn describe_keys(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: KeyIdsReq = parse(p)?;
    let infos = hsm.describe_keys(scope, &r.key_ids)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        key_metadatas: Vec<KeyMetadata>,
    }
    Ok(Resp {
        key_metadatas: infos.iter().map(metadata).collect(),
    })
}

fn page(r: &ListReq) -> Result<(usize, usize), ApiError> {
    let offset = r.offset.unwrap_or(0) as usize;
    let limit = r.limit.unwrap_or(10);
    if limit > 200 {
        return Err(err("InvalidParameter", "Limit must be at most 200"));
    }
    Ok((offset, limit as usize))
}

fn list_keys(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: ListReq = parse(p)?;
    check_cluster(r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(&r)?;
    let mut keys = if r.role.unwrap_or(0) == 1 {
        Vec::new() // no keys created by cloud products
    } else {
        hsm.list_keys(
            scope,
            &KeyFilter {
                key_usage: Accept::Any,
                ascending: true,
                ..KeyFilter::default()
            },
        )?
    };
    keys.retain(|k| {
        [
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingImport,
        ]
        .contains(&k.row.key_state)
    });
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        keys: Vec<KeyIdResp>,
        total_count: usize,
    }
    let total_count = keys.len();
    let keys = keys
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|k| KeyIdResp {
            key_id: k.row.key_id,
        })
        .collect();
    Ok(Resp { keys, total_count })
}

fn list_key_detail(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: ListReq = parse(p)?;
    check_cluster(r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(&r)?;
    let key_state = match r.key_state.unwrap_or(0) {
        0 => Accept::Any,
        1 => Accept::Only(KeyState::Enabled),
        2 => Accept::Only(KeyState::Disabled),
        3 => Accept::Only(KeyState::PendingDelete),
        4 => Accept::Only(KeyState::PendingImport),
        5 => Accept::Only(KeyState::Archived),
        _ => return Err(err("InvalidParameter", "KeyState must be 0 to 5")),
    };
    let filter = KeyFilter {
        key_state,
        search: r.search_key_alias.clone(),
        origin: match r.origin.as_deref() {
            None | Some("") | Some("ALL") => Accept::Any,
            Some(origin) => Origin::parse(origin).map_or(Accept::Nothing, Accept::Only),
        },
        key_usage: match r.key_usage.as_deref() {
            Some("ALL") => Accept::Any,
            None | Some("") => Accept::Only(KeyUsage::EncryptDecrypt),
            Some(usage) => KeyUsage::parse(usage).map_or(Accept::Nothing, Accept::Only),
        },
        tag_filters: r
            .tag_filters
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect(),
        ascending: r.order_type.unwrap_or(0) == 1,
    };
    let keys = if r.role.unwrap_or(0) == 1 {
        Vec::new()
    } else {
        hsm.list_keys(scope, &filter)?
    };
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        total_count: usize,
        key_metadatas: Vec<KeyMetadata>,
    }
    Ok(Resp {
        total_count: keys.len(),
        key_metadatas: keys.iter().skip(offset).take(limit).map(metadata).collect(),
    })
}

fn encrypt(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: EncryptReq = parse(p)?;
    let plaintext = B64
        .decode(r.plaintext.trim())
        .map(Zeroizing::new)
        .map_err(|_| {
            err::<ApiError>(
                "InvalidParameterValue.InvalidPlaintext",
                "Plaintext must be standard base64",
            )
        })?;
    let ciphertext_blob = hsm.encrypt(
        scope,
        &r.key_id,
        &plaintext,
        r.encryption_context.as_deref(),
    )?;
    Ok(EncryptResp {
        ciphertext_blob,
        key_id: r.key_id,
    })
}

fn decrypt(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: DecryptReq = parse(p)?;
    let opened = hsm.decrypt(scope, &r.ciphertext_blob, r.encryption_context.as_deref())?;
    let out = hsm.seal_for_caller(
        opened.plaintext,
        r.encryption_public_key.as_deref(),
        r.encryption_algorithm.as_deref(),
    )?;
    Ok(PlaintextResp {
        key_id: Some(opened.key_id),
        plaintext: Zeroizing::new(B64.encode(&out[..])),
    })
}

fn re_encrypt(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: ReEncryptReq = parse(p)?;
    let out = hsm.re_encrypt(
        scope,
        &r.ciphertext_blob,
        r.destination_key_id.as_deref(),
        r.source_encryption_context.as_deref(),
        r.destination_encryption_context.as_deref(),
    )?;
    Ok(ReEncryptResp {
        ciphertext_blob: out.blob,
        key_id: out.key_id,
        source_key_id: out.source_key_id,
        re_encrypted: out.re_encrypted,
    })
}

fn generate_data_key(hsm: &Hsm, scope: Scope<'_>, p: &[u8]) -> Result<impl Serialize, CallError> {
    let r: DataKeyReq = parse(p)?;
    if r.is_hosted_by_kms.unwrap_or(0) != 0 {
        return Err(err(
            "UnsupportedOperation",
            "data keys hosted by KMS (IsHostedByKms=1) are not supported by the tkms mock",
        ));
    }
    let len = match (r.number_of_bytes, r.key_spec.as_deref()) {
        (Some(n), _) if (1..=1024).contains(&n) => n as usize,
        (Some(_), _) => return Err(err("InvalidParameter", "NumberOfBytes must be 1 to 1024")),
        (None, Some("AES_128")) => 16,
        (None, Some("AES_256")) => 32,
        (None, Some(_)) => {
            return Err(err(
                "InvalidParameter",
                "KeySpec must be AES_128 or AES_256",
            ));
        }
        (None, None) => {
            return Err(err(
                "InvalidParameter",
                "one of KeySpec and NumberOfBytes is required",
            ));
        }
    };
    let (data_key, ciphertext_blob) =
        hsm.generate_data_key(scope, &r.key_id, len, r.encryption_context.as_deref())?;
    let out = hsm.seal_for_caller(
        data_key,
        r.encryption_public_key.as_deref(),
        r.encryption_algorithm.as_deref(),
    )?;
    Ok(DataKeyResp {
        key_id: r.key_id,
        plaintext: Zeroizing::new(B64.encode(&out[..])),
        ciphertext_blob,
    })
}

fn sign_inputs(
    algorithm: &str,
    message: &str,
    message_type: Option<&str>,
) -> Result<(SignAlgorithm, Zeroizing<Vec<u8>>), ApiError> {
    let algorithm = SignAlgorithm::from_name(algorithm).ok_or_else(|| {
        err::<ApiError>(
            "InvalidParameter",
            "Algorithm must be SM2DSA, ECC_P256_R1, RSA_PSS_SHA_256 or RSA_PKCS1_SHA_256",
        )
    })?;
    let message = decode_b64(message, "Message")?;
    match message_type.unwrap_or("RAW") {
        "RAW" | "" if message.len() <= 4096 => {}
        "RAW" | "" => {
            return Err(err(
                "InvalidParameter",
                "a RAW Message must be at most 4096 bytes",
            ));
        }
        "DIGEST" if message.len() == 32 => {}
        "DIGEST" => {
            return Err(err(
                "InvalidParameter",
                "a DIGEST Message must be exactly 32 bytes",
            ));
        }
        _ => return Err(err("InvalidParameter", "MessageType must be RAW or DIGEST")),
    }
    Ok((algorithm, message))
}

fn sign_input<'a>(
    message: &'a [u8],
    message_type: Option<&str>,
) -> Result<SignInput<'a>, ApiError> {
    Ok(match message_type.unwrap_or("RAW") {
        "DIGEST" => SignInput::Digest(message.try_into().map_err(|_| {
            err::<ApiError>(
                "InvalidParameter",
                "a DIGEST Message must be exactly 32 bytes",
            )
        })?),
        _ => SignInput::Raw(message),
    })
}

fn list_algorithms(hsm: &Hsm, scope: Scope<'_>) -> impl Serialize {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct AlgorithmInfo {
        key_usage: &'static str,
        algorithm: &'static str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        symmetric_algorithms: Vec<AlgorithmInfo>,
        asymmetric_algorithms: Vec<AlgorithmInfo>,
        asymmetric_sign_verify_algorithms: Vec<AlgorithmInfo>,
    }
    let symmetric = hsm.symmetric.algorithm_for(scope.region);
    let info = |key_usage: KeyUsage, algorithm| AlgorithmInfo {
        key_usage: key_usage.as_str(),
        algorithm,
    };
    Resp {
        symmetric_algorithms: vec![info(KeyUsage::EncryptDecrypt, symmetric.name())],
        asymmetric_algorithms: vec![
            info(KeyUsage::DecryptSm2, "SM2"),
            info(KeyUsage::DecryptRsa2048, "RSA_2048"),
        ],
        asymmetric_sign_verify_algorithms: vec![
            info(KeyUsage::SignSm2, "SM2"),
            info(KeyUsage::SignRsa2048, "RSA_2048"),
            info(KeyUsage::SignEcc, "ECC"),
        ],
    }
}

fn service_status() -> impl Serialize {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        service_enabled: bool,
        invalid_type: i64,
        user_level: u64,
        pro_expire_time: u64,
        pro_renew_flag: u64,
        pro_resource_id: &'static str,
        exclusive_v_s_m_enabled: bool,
        #[serde(rename = "ExclusiveHSMEnabled")]
        exclusive_hsm_enabled: bool,
        subscription_info: &'static str,
        is_allowed_data_key_hosted: bool,
    }
    Resp {
        service_enabled: true,
        invalid_type: 1,
        user_level: 0,
        pro_expire_time: 0,
        pro_renew_flag: 0,
        pro_resource_id: "",
        exclusive_v_s_m_enabled: false,
        exclusive_hsm_enabled: false,
        subscription_info: "",
        is_allowed_data_key_hosted: false,
    }
}

fn regions(hsm: &Hsm) -> Vec<String> {
    let mut out: Vec<String> = REGIONS.iter().map(|r| (*r).to_owned()).collect();
    if !out.iter().any(|r| r == hsm.default_region()) {
        out.insert(0, hsm.default_region().to_owned());
    }
    out
}
