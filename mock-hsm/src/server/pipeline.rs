//! One request through `tkms serve`: read and size-check it, authenticate it (TC3-HMAC-SHA256
//! or legacy v1), turn it into an action and a JSON parameter object, let CAM decide it, run it
//! on the backend (hot actions inline, the rest on the blocking pool), record it in the audit
//! trail, and render the answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use kms_core::http::API_VERSION;
use kms_core::internal::SecretBuf;
use zeroize::{Zeroize as _, Zeroizing};

use super::response::{Failure, success};
use super::{
    AppState, Cam, STS_VERSION, UNAUTHORIZED, auth, cam, credentials, new_request_id, params,
};
use crate::api::{Admission, ApiError, CallContext};
use crate::audit::{AuditRecord, RESULT_OK};
use crate::cam::Grant;

/// Largest TC3 POST body (docs/kms-api.md §1.1).
const MAX_TC3_BODY: usize = 10 * 1024 * 1024;
/// Largest legacy v1 form body.
const MAX_V1_BODY: usize = 1024 * 1024;
/// Largest GET query string.
const MAX_QUERY: usize = 32 * 1024;
/// The action name `AssumeRole` (STS 2018-08-13) is recorded and decided under.
const STS_ASSUME_ROLE: &str = "sts:AssumeRole";
/// Longest unauthenticated action name kept in the audit trail.
const MAX_AUDITED_ACTION: usize = 64;

pub(super) async fn tencent_api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = new_request_id();
    let mut trail = Trail::default();
    let outcome = handle(&state, peer, request, &request_id, &mut trail).await;
    // One line a call for `TKMS_LOG=debug tkms serve` (docs/serve.md, "Log"): who asked for
    // what and the result code; never parameters, which may hold plaintext.
    tracing::debug!(
        request_id = %request_id,
        peer = %peer,
        action = trail.action.as_deref().unwrap_or("-"),
        key_id = trail.key_id.as_deref().unwrap_or("-"),
        result = match &outcome {
            Ok(_) => RESULT_OK,
            Err(e) => e.code.as_str(),
        },
        "call"
    );
    if let (Some(audit), Some((account_uin, identity))) = (&state.audit, trail.who) {
        audit.record(AuditRecord {
            time: state.now(),
            account_uin,
            identity,
            source_ip: Some(peer.ip().to_string()),
            action: trail.action.unwrap_or_default(),
            key_id: trail.key_id,
            region: trail.region.unwrap_or_else(|| state.region.clone()),
            result: match &outcome {
                Ok(_) => RESULT_OK.to_owned(),
                Err(e) => e.code.clone(),
            },
            request_id: request_id.clone(),
        });
    }
    match outcome {
        Ok(response) => response,
        Err(error) => Failure::new(error, &request_id).into_response(),
    }
}

/// What the audit trail learns about a call as it is handled.
#[derive(Default)]
struct Trail {
    /// Account and identity, once known (calls from unknown SecretIds are not recorded).
    who: Option<(u64, String)>,
    action: Option<String>,
    key_id: Option<String>,
    region: Option<String>,
}

/// Who an unauthenticated request claims to be, for the trail of a failed authentication.
fn claimed_identity(
    state: &AppState,
    headers: &HeaderMap,
    authorization: Option<&str>,
    raw_query: &str,
    trail: &mut Trail,
) {
    let v1 = || params::decode_pairs(raw_query.as_bytes());
    let (secret_id, action, region) = match authorization {
        Some(a) => (
            kms_core::http::tc3::Authorization::parse(a)
                .ok()
                .map(|a| a.secret_id),
            header_str(headers, "x-tc-action").map(str::to_owned),
            header_str(headers, "x-tc-region").map(str::to_owned),
        ),
        None => {
            let pairs = v1();
            let get = |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str().to_owned())
            };
            (get("SecretId"), get("Action"), get("Region"))
        }
    };
    if let Some(who) = secret_id.and_then(|id| state.credentials.identify(&id)) {
        trail.who = Some(who);
        trail.action = action.map(|mut a| {
            a.truncate(
                a.char_indices()
                    .nth(MAX_AUDITED_ACTION)
                    .map_or(a.len(), |(i, _)| i),
            );
            a
        });
        trail.region = region.filter(|r| !r.is_empty());
    }
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::trim)
}

fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::new(
        "RequestSizeLimitExceeded",
        format!("The {what} is larger than {limit} bytes."),
    )
}

/// Reads the body into a zeroizing buffer (it may carry plaintext), refusing more than `limit`.
async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let declared = header_str(headers, header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared > limit {
        return Err(too_large("request body", limit));
    }
    let mut out = SecretBuf::with_capacity(declared);
    let mut received = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                "InvalidParameter",
                format!("Cannot read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len();
        if received > limit {
            return Err(too_large("request body", limit));
        }
        out.extend_from_slice(&data);
        if let Ok(mut unique) = data.try_into_mut() {
            unique.as_mut().zeroize();
        }
    }
    Ok(out.into_zeroizing())
}

/// One authenticated call: who, where, what.
struct Call {
    principal: Arc<credentials::Principal>,
    region: Option<String>,
    action: String,
    params: Zeroizing<Vec<u8>>,
}

async fn handle(
    state: &AppState,
    peer: SocketAddr,
    request: Request,
    request_id: &str,
    trail: &mut Trail,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    if parts.uri.path() != "/" {
        return Err(ApiError::new(
            "UnsupportedOperation",
            format!(
                "Nothing is served at {}; the Tencent Cloud API is at /.",
                parts.uri.path()
            ),
        ));
    }
    let method = match parts.method {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => {
            return Err(ApiError::new(
                "UnsupportedProtocol",
                "Only GET and POST are supported.",
            ));
        }
    };
    let raw_query = parts.uri.query().unwrap_or("");
    if raw_query.len() > MAX_QUERY {
        return Err(too_large("query string", MAX_QUERY));
    }
    let headers = &parts.headers;
    let is_form = header_str(headers, header::CONTENT_TYPE).is_some_and(|ct| {
        ct.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let authorization = header_str(headers, header::AUTHORIZATION);
    let body = if method == "POST" {
        let limit = if authorization.is_none() && is_form {
            MAX_V1_BODY
        } else {
            MAX_TC3_BODY
        };
        tokio::time::timeout(state.body_timeout, read_body(headers, body, limit))
            .await
            .map_err(|_| {
                ApiError::new(
                    "InvalidParameter",
                    format!(
                        "The request body did not arrive within {} s.",
                        state.body_timeout.as_secs_f64()
                    ),
                )
            })??
    } else {
        Zeroizing::new(Vec::new())
    };

    let call = match authorization {
        Some(authorization) => tc3_call(
            state,
            method,
            raw_query,
            headers,
            authorization,
            is_form,
            body,
        ),
        None => v1_call(state, method, raw_query, headers, body),
    };
    let call = match call {
        Ok(call) => call,
        Err(e) => {
            if e.code.starts_with("AuthFailure") {
                claimed_identity(state, headers, authorization, raw_query, trail);
            }
            return Err(e);
        }
    };

    let ctx = CallContext {
        account_uin: call.principal.account_uin,
        identity: call.principal.identity.clone(),
        region: call
            .region
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| state.region.clone()),
        request_id: request_id.to_owned(),
        source_ip: Some(peer.ip()),
    };
    trail.who = Some((call.principal.account_uin, call.principal.identity.clone()));
    trail.action = Some(call.action.clone());
    trail.region = Some(ctx.region.clone());
    let Call {
        principal,
        action,
        params,
        ..
    } = call;
    if action == STS_ASSUME_ROLE {
        return assume_role(state, &principal, &params, request_id);
    }
    let mut gate = Gate {
        cam: principal
            .grant
            .as_ref()
            .map(|grant| (state.cam.clone(), Arc::clone(grant))),
        first_key: None,
    };
    let (gate, output) = if runs_inline(&action) {
        let output = state
            .backend
            .dispatch_admitted(&ctx, &action, &params, &mut |a, c| {
                gate.admit(&action, a, c)
            });
        (gate, output)
    } else {
        let backend = Arc::clone(&state.backend);
        tokio::task::spawn_blocking(move || {
            let output = backend.dispatch_admitted(&ctx, &action, &params, &mut |a, c| {
                gate.admit(&action, a, c)
            });
            (gate, output)
        })
        .await
        .map_err(|e| ApiError::new("InternalError", format!("the backend failed: {e}")))?
    };
    trail.key_id = gate.first_key;
    Ok(success(&output?))
}

/// What the server asks of a call before it runs, on the parse the call runs on: the trail's
/// key, and CAM's decision (a refused call changes nothing).
struct Gate {
    /// The CAM config and the caller's grant, when the caller is a CAM identity.
    cam: Option<(Option<Arc<Cam>>, Arc<Grant>)>,
    /// The first key the call names, for the audit trail.
    first_key: Option<String>,
}

impl Gate {
    fn admit(
        &mut self,
        action: &str,
        admission: Admission<'_>,
        ctx: &mut CallContext,
    ) -> Result<(), ApiError> {
        let targets = match admission.targets {
            Ok(targets) => targets,
            // Unreadable parameters: CAM refuses them now; without CAM the call itself fails.
            Err(e) if self.cam.is_some() => return Err(e),
            Err(_) => return Ok(()),
        };
        self.first_key = targets.key_ids.first().cloned();
        let Some((cam, grant)) = &self.cam else {
            return Ok(());
        };
        let Some(cam) = cam else {
            return Err(ApiError::new(
                UNAUTHORIZED,
                "This server has no CAM configuration to judge the call by.",
            ));
        };
        cam::authorize(cam, admission.lookup, grant, ctx, action, targets)
    }
}

/// `sts:AssumeRole`: temporary credentials for a role the caller is trusted to assume.
fn assume_role(
    state: &AppState,
    principal: &credentials::Principal,
    params: &[u8],
    request_id: &str,
) -> Result<Response, ApiError> {
    let Some(cam) = &state.cam else {
        return Err(ApiError::new(
            "UnsupportedOperation",
            "AssumeRole needs roles: start tkms serve with --config.",
        ));
    };
    let issued = cam.assume_role(principal, params)?;
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Credentials<'a> {
        token: &'a str,
        tmp_secret_id: &'a str,
        tmp_secret_key: &'a str,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer<'a> {
        credentials: Credentials<'a>,
        expired_time: u64,
        expiration: String,
        request_id: &'a str,
    }
    let answer = Answer {
        credentials: Credentials {
            token: &issued.token,
            tmp_secret_id: &issued.tmp_secret_id,
            tmp_secret_key: &issued.tmp_secret_key,
        },
        expired_time: issued.expired_time,
        expiration: kms_core::http::tc3::utc_datetime(issued.expired_time),
        request_id,
    };
    let body = SecretBuf::json(&answer)
        .map_err(|e| ApiError::new("InternalError", format!("rendering AssumeRole: {e}")))?;
    Ok(success(&body))
}

/// The hot cryptographic calls take a few microseconds (their keys stay in memory while the
/// store is unchanged): run them on the I/O thread, where a hand-off to the blocking pool would
/// cost more than the call.
/// Everything that writes (and may wait for an fsync) goes to the blocking pool.
fn runs_inline(action: &str) -> bool {
    matches!(
        action,
        "Encrypt" | "Decrypt" | "GenerateDataKey" | "GenerateRandom" | "ReEncrypt"
    )
}

fn check_version(version: Option<&str>) -> Result<(), ApiError> {
    match version {
        Some(API_VERSION) => Ok(()),
        Some(other) => Err(ApiError::new(
            "NoSuchVersion",
            format!("The API version {other:?} does not exist; KMS serves {API_VERSION}."),
        )),
        None => Err(ApiError::new(
            "NoSuchVersion",
            format!("The request names no API version; KMS serves {API_VERSION}."),
        )),
    }
}

fn check_action(action: Option<&str>) -> Result<String, ApiError> {
    let action =
        action.ok_or_else(|| ApiError::new("MissingParameter", "The request names no Action."))?;
    if !params::is_known_action(action) {
        return Err(ApiError::new(
            "InvalidAction",
            format!("The action {action:?} does not exist in KMS {API_VERSION}."),
        ));
    }
    Ok(action.to_owned())
}

fn tc3_call(
    state: &AppState,
    method: &str,
    raw_query: &str,
    headers: &HeaderMap,
    authorization: &str,
    is_form: bool,
    body: Zeroizing<Vec<u8>>,
) -> Result<Call, ApiError> {
    let request = auth::Tc3Request {
        method,
        raw_query,
        headers,
        body: &body,
    };
    let principal = auth::verify_tc3(
        &request,
        authorization,
        state.credentials.as_ref(),
        state.check_clock_skew,
    )?;
    let version = header_str(headers, "x-tc-version");
    let action = match header_str(headers, "x-tc-action") {
        Some("AssumeRole") if version == Some(STS_VERSION) => STS_ASSUME_ROLE.to_owned(),
        action => {
            check_version(version)?;
            check_action(action)?
        }
    };
    let params = if method == "GET" {
        params::unflatten(&action, params::decode_pairs(raw_query.as_bytes()))?
    } else if is_form {
        params::unflatten(&action, params::decode_pairs(&body))?
    } else if body.iter().all(u8::is_ascii_whitespace) {
        Zeroizing::new(b"{}".to_vec())
    } else {
        body
    };
    Ok(Call {
        principal,
        region: header_str(headers, "x-tc-region").map(str::to_owned),
        action,
        params,
    })
}

fn v1_call(
    state: &AppState,
    method: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: Zeroizing<Vec<u8>>,
) -> Result<Call, ApiError> {
    let pairs = if method == "GET" {
        params::decode_pairs(raw_query.as_bytes())
    } else {
        params::decode_pairs(&body)
    };
    if !pairs.iter().any(|(k, _)| k == "Signature") {
        return Err(ApiError::new(
            "AuthFailure",
            "The request is not signed: it has neither an Authorization header (TC3-HMAC-SHA256) nor a Signature parameter.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return Err(ApiError::new(
            "InvalidParameter",
            format!("The parameter {key} is given twice."),
        ));
    }
    let host = header_str(headers, header::HOST).unwrap_or_default();
    let principal = auth::verify_v1(
        method,
        host,
        "/",
        &pairs,
        state.credentials.as_ref(),
        state.check_clock_skew,
    )?;
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    check_version(get("Version"))?;
    let action = check_action(get("Action"))?;
    let region = get("Region").map(str::to_owned);
    let action_params: Vec<_> = pairs
        .into_iter()
        .filter(|(k, _)| !auth::V1_COMMON_PARAMS.contains(&k.as_str()))
        .collect();
    let params = params::unflatten(&action, action_params)?;
    Ok(Call {
        principal,
        region,
        action,
        params,
    })
}
