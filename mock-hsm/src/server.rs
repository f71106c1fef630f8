//! `tkms serve`: the Tencent Cloud KMS API (2019-01-18) over HTTP, so the official SDKs, tccli
//! and `kms_core::http::HttpKms` can use the mock unchanged (docs/serve.md).
//!
//! The server is a thin adapter: it authenticates the request (TC3-HMAC-SHA256 or legacy v1),
//! turns it into an action name plus a JSON parameter object, calls [`KmsApi::dispatch`] on a
//! blocking thread, and renders `{"Response": {...}}` with HTTP 200.

mod auth;
mod cam;
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
use kms_core::SecretBuf;
use kms_core::http::API_VERSION;
use serde::Deserialize;
use serde_json::json;
use zeroize::{Zeroize as _, Zeroizing};

use crate::api::{ApiError, CallContext, KmsApi};
use crate::audit::{AuditLog, AuditQuery, AuditRecord, RESULT_OK, ResultFilter};
use crate::clock::{Clock as _, SystemClock};
use response::{Failure, json_response, success};

// The public interface is:
pub use cam::{Cam, STS_VERSION, UNAUTHORIZED};
pub use credentials::{
    CredentialSource, CredentialStore, Principal, ROOT_ACCOUNT_UIN, ROOT_CREDENTIALS_FILE,
    RootCredentials, StaticCredentials,
};
pub use service::{ServiceConfig, open_hsm, run_service, service_options};
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
/// The action name `AssumeRole` (STS 2018-08-13) is recorded and decided under.
const STS_ASSUME_ROLE: &str = "sts:AssumeRole";
/// Longest unauthenticated action name kept in the audit trail.
const MAX_AUDITED_ACTION: usize = 64;

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
    /// How often [`KmsApi::tick`] runs, and audit retention is enforced (default 60 s).
    pub tick_interval: Duration,
    /// CAM identities and policies; `None`: only `credentials`, unrestricted. When set, it
    /// should also be `credentials` (see [`ServeOptions::with_cam`]).
    pub cam: Option<Arc<Cam>>,
    /// Where every call is recorded; `None`: nowhere.
    pub audit: Option<Arc<AuditLog>>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("listen", &self.listen)
            .field("region", &self.region)
            .field("test_controls", &self.test_controls)
            .field("check_clock_skew", &self.check_clock_skew)
            .field("tick_interval", &self.tick_interval)
            .field("cam", &self.cam)
            .field("audit", &self.audit.is_some())
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
            cam: None,
            audit: None,
        }
    }

    /// The defaults, with CAM as the credential store and judge.
    pub fn with_cam(cam: Arc<Cam>) -> Self {
        let mut options = Self::new(Arc::clone(&cam) as Arc<dyn CredentialStore>);
        options.cam = Some(cam);
        options
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
    cam: Option<Arc<Cam>>,
    audit: Option<Arc<AuditLog>>,
}

impl AppState {
    /// The service clock: the HSM's mock clock when it has one (test controls move it).
    fn now(&self) -> u64 {
        self.backend
            .mock_clock()
            .map_or_else(|| SystemClock.now(), |clock| clock.now())
    }

    /// The timer's work: key schedules, audit retention, expired role sessions.
    fn maintain(&self) {
        self.backend.tick();
        if let Some(audit) = &self.audit {
            let days = self
                .cam
                .as_ref()
                .map_or(crate::DEFAULT_RETENTION_DAYS, |cam| {
                    cam.snapshot().retention_days()
                });
            if let Err(e) = audit.enforce_retention(self.now(), days) {
                tracing::error!(error = %e, "audit retention not enforced");
            }
        }
        if let Some(cam) = &self.cam {
            cam.purge_sessions();
        }
    }
}

/// A bound server, not yet accepting requests.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    state: Arc<AppState>,
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
            cam: options.cam,
            audit: options.audit,
        });
        Ok(Self {
            listener,
            router: router(Arc::clone(&state), options.test_controls),
            state,
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
        let state = Arc::clone(&self.state);
        let interval = self.tick_interval;
        let ticker = tokio::spawn(async move {
            let mut timer = tokio::time::interval(interval);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                let state = Arc::clone(&state);
                let _ = tokio::task::spawn_blocking(move || state.maintain()).await;
            }
        });
        let reloader = self
            .state
            .cam
            .as_ref()
            .filter(|cam| cam.path().is_some())
            .map(|cam| tokio::spawn(reload_on_hangup(Arc::clone(cam))));
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
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        if let Some(audit) = &self.state.audit {
            audit.flush();
        }
        result
    }
}

/// Reloads the CAM config on every SIGHUP; a bad file is refused and the old config kept.
async fn reload_on_hangup(cam: Arc<Cam>) {
    #[cfg(unix)]
    {
        let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangup.recv().await.is_some() {
            let target = Arc::clone(&cam);
            match tokio::task::spawn_blocking(move || target.reload()).await {
                Ok(Ok(())) => eprintln!("tkms serve: SIGHUP: CAM config reloaded"),
                Ok(Err(e)) => eprintln!("tkms serve: SIGHUP: kept the previous CAM config: {e}"),
                Err(e) => eprintln!("tkms serve: SIGHUP: reload failed: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = cam;
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
            .route("/_tkms/reset", post(reset_state).fallback(tencent_api))
            .route("/_tkms/audit", post(audit_query).fallback(tencent_api));
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
    let mut trail = Trail::default();
    let outcome = handle(&state, peer, request, &request_id, &mut trail).await;
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

    let mut ctx = CallContext {
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
        return assume_role(state, &principal, &params);
    }
    let targets = match (&principal.grant, &state.audit) {
        (Some(_), _) => Some(cam::call_targets(&action, &params)?),
        // Without CAM the targets serve the trail only; bad parameters fail in the call.
        (None, Some(_)) => cam::call_targets(&action, &params).ok(),
        (None, None) => None,
    };
    trail.key_id = targets.as_ref().and_then(|t| t.key_ids.first().cloned());
    if let Some(grant) = &principal.grant {
        // Decided before dispatch: a refused call changes nothing.
        let (Some(cam), Some(targets)) = (&state.cam, &targets) else {
            return Err(ApiError::new(
                UNAUTHORIZED,
                "This server has no CAM configuration to judge the call by.",
            ));
        };
        cam::authorize(
            cam,
            state.backend.as_ref(),
            grant,
            &mut ctx,
            &action,
            targets,
        )?;
    }
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

/// `sts:AssumeRole`: temporary credentials for a role the caller is trusted to assume.
fn assume_role(
    state: &AppState,
    principal: &credentials::Principal,
    params: &[u8],
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
    let request_id = new_request_id();
    let answer = Answer {
        credentials: Credentials {
            token: &issued.token,
            tmp_secret_id: &issued.tmp_secret_id,
            tmp_secret_key: &issued.tmp_secret_key,
        },
        expired_time: issued.expired_time,
        expiration: kms_core::http::tc3::utc_datetime(issued.expired_time),
        request_id: &request_id,
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
async fn audit_query(
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
