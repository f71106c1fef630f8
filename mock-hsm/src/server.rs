//! `tkms serve`: the Tencent Cloud KMS API (2019-01-18) over HTTP, so the official SDKs, tccli
//! and `kms_core::http::HttpKms` can use the mock unchanged (docs/serve.md).
//!
//! The server is a thin adapter: it authenticates the request (TC3-HMAC-SHA256 or legacy v1),
//! turns it into an action name plus a JSON parameter object, calls [`KmsApi::dispatch`] on a
//! blocking thread, and renders `{"Response": {...}}` with HTTP 200.

mod auth;
mod credentials;
mod params;
mod response;
mod service;
mod test_server;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use http_body_util::BodyExt as _;
use kms_core::http::API_VERSION;
use serde::Deserialize;
use serde_json::json;
use zeroize::{Zeroize as _, Zeroizing};

use crate::api::{ApiError, CallContext, KmsApi};
use response::{Failure, json_response, success};

// The public interface is:
pub use credentials::{
    CredentialSource, CredentialStore, Principal, ROOT_ACCOUNT_UIN, ROOT_CREDENTIALS_FILE,
    RootCredentials, StaticCredentials,
};
pub use service::{ServiceConfig, open_hsm, run_service};
pub use test_server::TestServer;

/// Where `tkms serve` listens by default.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8573);
/// The region of requests that name none.
pub const DEFAULT_REGION: &str = "ap-guangzhou";

/// Largest TC3 POST body (reference §1.1).
const MAX_TC3_BODY: usize = 10 * 1024 * 1024;
/// Largest legacy v1 form body.
const MAX_V1_BODY: usize = 1024 * 1024;
/// Largest GET query string.
const MAX_QUERY: usize = 32 * 1024;

/// How the server runs.
#[derive(Clone)]
pub struct ServeOptions {
    /// Address to bind (default 127.0.0.1:8573; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Region for requests without `X-TC-Region` (default ap-guangzhou).
    pub region: String,
    /// Who may call.
    pub credentials: Arc<dyn CredentialStore>,
    /// Serve `/_tkms/clock` and `/_tkms/reset` to loopback callers (default off).
    pub test_controls: bool,
    /// Refuse requests whose timestamp is more than 5 minutes from the wall clock (default
    /// on; off only to replay recorded requests).
    pub check_clock_skew: bool,
    /// How often [`KmsApi::tick`] runs (default 60 s).
    pub tick_interval: Duration,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("listen", &self.listen)
            .field("region", &self.region)
            .field("test_controls", &self.test_controls)
            .field("check_clock_skew", &self.check_clock_skew)
            .field("tick_interval", &self.tick_interval)
            .finish_non_exhaustive()
    }
}

impl ServeOptions {
    /// The defaults, with these credentials.
    pub fn new(credentials: Arc<dyn CredentialStore>) -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            region: DEFAULT_REGION.to_owned(),
            credentials,
            test_controls: false,
            check_clock_skew: true,
            tick_interval: Duration::from_secs(60),
        }
    }

    /// The defaults, with only the root identity and these keys.
    pub fn with_root(root: &RootCredentials) -> Self {
        Self::new(Arc::new(StaticCredentials::root(root)))
    }
}

struct AppState {
    backend: Arc<dyn KmsApi>,
    credentials: Arc<dyn CredentialStore>,
    region: String,
    check_clock_skew: bool,
}

/// A bound server, not yet accepting requests.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    backend: Arc<dyn KmsApi>,
    tick_interval: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `options.listen`.
    pub async fn bind(backend: Arc<dyn KmsApi>, options: ServeOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        let state = Arc::new(AppState {
            backend: Arc::clone(&backend),
            credentials: options.credentials,
            region: options.region,
            check_clock_skew: options.check_clock_skew,
        });
        Ok(Self {
            listener,
            router: router(state, options.test_controls),
            backend,
            tick_interval: options.tick_interval,
        })
    }

    /// The bound address (with the real port when `listen` had port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let backend = Arc::clone(&self.backend);
        let interval = self.tick_interval;
        let ticker = tokio::spawn(async move {
            let mut timer = tokio::time::interval(interval);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                let backend = Arc::clone(&backend);
                let _ = tokio::task::spawn_blocking(move || backend.tick()).await;
            }
        });
        let listener = self.listener.tap_io(|tcp| {
            // Small JSON answers: send them now rather than wait for Nagle.
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        ticker.abort();
        result
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Binds, prints `listening on http://HOST:PORT` on stdout, and serves until SIGINT or SIGTERM.
pub async fn serve(backend: Arc<dyn KmsApi>, options: ServeOptions) -> std::io::Result<()> {
    let server = Server::bind(backend, options).await?;
    let addr = server.local_addr()?;
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;
    }
    server.run_until(shutdown_signal()).await
}

/// [`serve`] on a new multi-threaded tokio runtime, for synchronous callers (the CLI).
pub fn serve_blocking(backend: Arc<dyn KmsApi>, options: ServeOptions) -> std::io::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(backend, options))
}

fn router(state: Arc<AppState>, test_controls: bool) -> Router {
    // Wrong methods on the extra routes fall through to the Tencent handler too, so nothing
    // ever answers with axum's bare 405.
    let mut router = Router::new().route("/healthz", get(healthz).fallback(tencent_api));
    if test_controls {
        router = router
            .route(
                "/_tkms/clock",
                get(clock_get).post(clock_advance).fallback(tencent_api),
            )
            .route("/_tkms/reset", post(reset_state).fallback(tencent_api));
    }
    router.fallback(tencent_api).with_state(state)
}

async fn healthz() -> Response {
    json_response(Bytes::from_static(br#"{"Status":"ok"}"#))
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn tencent_api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = new_request_id();
    match handle(&state, peer, request, &request_id).await {
        Ok(response) => response,
        Err(error) => Failure::new(error, &request_id).into_response(),
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
    let mut out = Zeroizing::new(Vec::with_capacity(declared));
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
        if out.len() + data.len() > limit {
            return Err(too_large("request body", limit));
        }
        if out.capacity() - out.len() < data.len() {
            // Grow by hand so the old buffer is zeroized, not just freed.
            let mut bigger = Zeroizing::new(Vec::with_capacity(
                (out.len() + data.len()).max(out.capacity() * 2),
            ));
            bigger.extend_from_slice(&out);
            out = bigger;
        }
        out.extend_from_slice(&data);
        if let Ok(mut unique) = data.try_into_mut() {
            unique.as_mut().zeroize();
        }
    }
    Ok(out)
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
        read_body(headers, body, limit).await?
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
        )?,
        None => v1_call(state, method, raw_query, headers, body)?,
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
    let Call { action, params, .. } = call;
    let output = if runs_inline(&action) {
        state.backend.dispatch(&ctx, &action, &params)?
    } else {
        let backend = Arc::clone(&state.backend);
        tokio::task::spawn_blocking(move || backend.dispatch(&ctx, &action, &params))
            .await
            .map_err(|e| ApiError::new("InternalError", format!("the backend failed: {e}")))??
    };
    Ok(success(&output))
}

/// The hot cryptographic calls read the store and compute for tens of microseconds: run them
/// on the I/O thread, where a hand-off to the blocking pool would cost as much as the call.
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
    check_version(header_str(headers, "x-tc-version"))?;
    let action = check_action(header_str(headers, "x-tc-action"))?;
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

// --- Test controls (only routed with `test_controls`, only for loopback callers) ---

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

async fn clock_get(
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

async fn clock_advance(
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
            .advance(request.advance);
        // Let the schedules catch up with the new time before answering.
        let backend = Arc::clone(&state.backend);
        tokio::task::spawn_blocking(move || backend.tick())
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

async fn reset_state(
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
