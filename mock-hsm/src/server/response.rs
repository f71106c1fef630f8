//! Rendering: every answer is HTTP 200 with `Content-Type: application/json` exactly (the
//! Python SDK and tccli silently swallow errors sent with a charset) and a
//! `{"Response": {...}}` body carrying the RequestId.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use zeroize::Zeroizing;

use crate::api::ApiError;

/// The one content type the server sends.
pub(crate) const CONTENT_TYPE_JSON: &str = "application/json";

/// A JSON body, HTTP 200, the exact content type.
pub(crate) fn json_response(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_JSON),
    );
    response
}

/// A success: the backend's object wrapped in `{"Response": ...}`. The buffer may hold
/// plaintext, so it is zeroized when hyper drops it after sending.
pub(crate) fn success(inner: &[u8]) -> Response {
    let mut body = Zeroizing::new(Vec::with_capacity(inner.len() + 14));
    body.extend_from_slice(b"{\"Response\":");
    body.extend_from_slice(inner);
    body.push(b'}');
    json_response(Bytes::from_owner(body))
}

/// A failed call, rendered as a Tencent error with its request id.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: ApiError,
    pub(crate) request_id: String,
}

impl Failure {
    pub(crate) fn new(error: ApiError, request_id: &str) -> Self {
        Self {
            error,
            request_id: request_id.to_owned(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let Failure { error, request_id } = self;
        // Internal details go to the log, never to the caller.
        let message = if error.code == "InternalError" {
            tracing::error!(request_id = %request_id, detail = %error.message, "internal error");
            "An internal error occurred; see the server log for this RequestId.".to_owned()
        } else {
            error.message
        };
        json_response(Bytes::from(error_json(
            &ApiError::new(error.code, message),
            &request_id,
        )))
    }
}

/// The body of a Tencent error: `{"Response": {"Error": {...}, "RequestId": ...}}`.
pub(crate) fn error_json(error: &ApiError, request_id: &str) -> Vec<u8> {
    let body = json!({"Response": {"Error": {"Code": error.code, "Message": error.message}, "RequestId": request_id}});
    serde_json::to_vec(&body).expect("JSON values always serialise")
}
