//! `tkms serve`: the Tencent Cloud KMS API (2019-01-18) over HTTP, so the official SDKs, tccli
//! and `kms_core::http::HttpKms` can use the mock unchanged (docs/serve.md).
//!
//! This file binds, serves and stops (signals, the maintenance timer, SIGHUP reloads of the CAM
//! config); `pipeline` takes one request from bytes to answer (authentication, CAM, dispatch,
//! audit); `test_controls` serves the `/_tkms/*` routes.

mod auth;
mod cam;
mod conn;
mod credentials;
mod limits;
mod params;
mod pipeline;
mod response;
mod service;
mod test_controls;
mod test_server;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::response::Response;
use axum::routing::{get, post};

use crate::api::KmsApi;
use crate::audit::AuditLog;
use crate::clock::{Clock as _, SystemClock};
use pipeline::tencent_api;
use response::json_response;
use test_controls::{audit_query, clock_advance, clock_get, reset_state};

// The public interface is:
pub use cam::{Cam, STS_VERSION, UNAUTHORIZED};
pub use credentials::{
    CredentialSource, CredentialStore, Principal, ROOT_ACCOUNT_UIN, ROOT_CREDENTIALS_FILE,
    RootCredentials, StaticCredentials,
};
pub use limits::{
    ConnectionLimits, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
};
pub use service::{ServiceConfig, open_hsm, service_options};
pub use test_server::TestServer;

/// Where `tkms serve` listens by default.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8573);
/// The region of requests that name none.
pub const DEFAULT_REGION: &str = "ap-guangzhou";

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
    /// Timeouts and the connection cap (docs/serve.md, "Connections and timeouts").
    pub limits: ConnectionLimits,
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
            .field("limits", &self.limits)
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
            limits: ConnectionLimits::default(),
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
    body_timeout: Duration,
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
    limits: ConnectionLimits,
    /// SIGHUP, registered at bind when the CAM config has a file to reload, so a SIGHUP sent as
    /// soon as the server is reachable reloads instead of killing the process.
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
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
            body_timeout: options.limits.body_timeout,
        });
        #[cfg(unix)]
        let hangup = match state.cam.as_ref().filter(|cam| cam.path().is_some()) {
            Some(_) => Some(tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::hangup(),
            )?),
            None => None,
        };
        Ok(Self {
            listener,
            router: router(Arc::clone(&state), options.test_controls),
            state,
            tick_interval: options.tick_interval,
            limits: options.limits.fit_file_limit(),
            #[cfg(unix)]
            hangup,
        })
    }

    /// The bound address (with the real port when `listen` had port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish.
    pub async fn run_until(
        mut self,
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
        #[cfg(unix)]
        let reloader = match (self.hangup.take(), self.state.cam.as_ref()) {
            (Some(hangup), Some(cam)) => {
                Some(tokio::spawn(reload_on_hangup(Arc::clone(cam), hangup)))
            }
            _ => None,
        };
        #[cfg(not(unix))]
        let reloader: Option<tokio::task::JoinHandle<()>> = None;
        let result =
            conn::serve_connections(self.listener, self.router, self.limits, shutdown).await;
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
#[cfg(unix)]
async fn reload_on_hangup(cam: Arc<Cam>, mut hangup: tokio::signal::unix::Signal) {
    while hangup.recv().await.is_some() {
        let target = Arc::clone(&cam);
        match tokio::task::spawn_blocking(move || target.reload()).await {
            Ok(Ok(())) => eprintln!("tkms serve: SIGHUP: CAM config reloaded"),
            Ok(Err(e)) => eprintln!("tkms serve: SIGHUP: kept the previous CAM config: {e}"),
            Err(e) => eprintln!("tkms serve: SIGHUP: reload failed: {e}"),
        }
    }
}

/// Registers SIGINT and SIGTERM now, and returns a future that completes on either. Registering
/// before `listening on` is printed means a signal sent as soon as a client sees that line
/// stops the server cleanly instead of killing it with the default action.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Binds, prints `listening on http://HOST:PORT` on stdout, and serves until SIGINT or SIGTERM.
pub async fn serve(backend: Arc<dyn KmsApi>, options: ServeOptions) -> std::io::Result<()> {
    let server = Server::bind(backend, options).await?;
    let shutdown = shutdown_signal()?;
    let addr = server.local_addr()?;
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;
    }
    server.run_until(shutdown).await
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
