//! The test controls (`/_tkms/clock`, `/_tkms/reset`, `/_tkms/audit`): only routed with
//! `ServeOptions::test_controls`, and only for loopback callers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::response::{Failure, json_response};
use super::{AppState, new_request_id};
use crate::api::{ApiError, KmsApi};
use crate::audit::{AuditQuery, ResultFilter};

fn control_failure(error: ApiError) -> Response {
    Failure::new(error, &new_request_id()).into_response()
}

fn loopback_only(peer: SocketAddr) -> Result<(), ApiError> {
    if peer.ip().is_loopback() {
        Ok(())
    } else {
        Err(ApiError::new(
            "UnauthorizedOperation",
            "Test controls answer loopback callers only.",
        ))
    }
}

fn no_mock_clock() -> ApiError {
    ApiError::new("UnsupportedOperation", "This backend has no mock clock.")
}

fn clock_state(backend: &dyn KmsApi) -> Result<Response, ApiError> {
    use crate::clock::Clock as _;
    let clock = backend.mock_clock().ok_or_else(no_mock_clock)?;
    let body = json!({"Now": clock.now(), "Offset": clock.offset()});
    Ok(json_response(Bytes::from(
        serde_json::to_vec(&body).expect("JSON values always serialise"),
    )))
}

pub(super) async fn clock_get(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    loopback_only(peer)
        .and_then(|()| clock_state(state.backend.as_ref()))
        .unwrap_or_else(control_failure)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AdvanceClock {
    advance: u64,
}

pub(super) async fn clock_advance(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    async {
        loopback_only(peer)?;
        let request: AdvanceClock = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                "InvalidParameter",
                format!("Expected {{\"Advance\": seconds}}: {e}"),
            )
        })?;
        state
            .backend
            .mock_clock()
            .ok_or_else(no_mock_clock)?
            .try_advance(request.advance)
            .ok_or_else(|| {
                ApiError::new(
                    "InvalidParameterValue",
                    format!(
                        "Advance would move the clock past {} (9999-12-31T23:59:59Z).",
                        crate::clock::MAX_TIME
                    ),
                )
            })?;
        // Let the schedules (and audit retention) catch up with the new time before answering.
        let maintained = Arc::clone(&state);
        tokio::task::spawn_blocking(move || maintained.maintain())
            .await
            .map_err(|e| {
                ApiError::new(
                    "InternalError",
                    format!("running the schedules failed: {e}"),
                )
            })?;
        clock_state(state.backend.as_ref())
    }
    .await
    .unwrap_or_else(control_failure)
}

pub(super) async fn reset_state(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    async {
        loopback_only(peer)?;
        let backend = Arc::clone(&state.backend);
        tokio::task::spawn_blocking(move || backend.reset())
            .await
            .map_err(|e| {
                ApiError::new(
                    "InternalError",
                    format!("resetting the backend failed: {e}"),
                )
            })??;
        Ok(json_response(Bytes::from_static(br#"{"Reset":true}"#)))
    }
    .await
    .unwrap_or_else(control_failure)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AuditFilter {
    from: Option<u64>,
    to: Option<u64>,
    action: Option<String>,
    key_id: Option<String>,
    identity: Option<String>,
    result: Option<String>,
}

/// `POST /_tkms/audit` `{"Action": ..., "Result": "ok"|"error"|CODE, ...}`: the audit trail
/// (after committing everything queued), as `{"Records": [...]}`.
pub(super) async fn audit_query(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    async {
        loopback_only(peer)?;
        let filter: AuditFilter = if body.iter().all(u8::is_ascii_whitespace) {
            AuditFilter::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::new("InvalidParameter", format!("Bad audit filter: {e}")))?
        };
        let audit = state.audit.clone().ok_or_else(|| {
            ApiError::new("UnsupportedOperation", "This server keeps no audit trail.")
        })?;
        let query = AuditQuery {
            from: filter.from,
            to: filter.to,
            action: filter.action,
            key_id: filter.key_id,
            identity: filter.identity,
            result: filter
                .result
                .map(|r| r.parse::<ResultFilter>().unwrap_or(ResultFilter::Code(r))),
        };
        let records = tokio::task::spawn_blocking(move || audit.query(&query))
            .await
            .map_err(|e| ApiError::new("InternalError", format!("audit query failed: {e}")))?
            .map_err(|e| ApiError::new("InternalError", e.to_string()))?;
        Ok(json_response(Bytes::from(
            serde_json::to_vec(&json!({ "Records": records }))
                .expect("JSON values always serialise"),
        )))
    }
    .await
    .unwrap_or_else(control_failure)
}
