//! The accept loop: one task per connection, each held to [`ConnectionLimits`] (docs/serve.md,
//! "Connections and timeouts"). A connection past the cap is answered with the Tencent error
//! `RequestLimitExceeded` and closed; a connection slow to send its headers, or idle longer
//! than the idle timeout, is closed. HTTP errors hyper answers by itself (431 for oversized
//! headers, 400 for a malformed request) go out as Tencent JSON errors like every refusal.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use super::limits::ConnectionLimits;
use super::response::error_json;
use crate::api::ApiError;

/// Refusals being written at once; past this, excess connections are closed unanswered.
const MAX_REFUSALS_IN_PROGRESS: usize = 64;
/// How long a refusal may take to write and to see the client's close.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Accepts and serves until `shutdown` completes, then lets open connections finish.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let open = Arc::new(Semaphore::new(max as usize));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_PROGRESS));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors or a connection reset before accept: back off briefly.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small JSON answers: send them now rather than wait for Nagle.
        let _ = stream.set_nodelay(true);
        if let Ok(permit) = Arc::clone(&open).try_acquire_owned() {
            let (router, stopping) = (router.clone(), stopping.clone());
            tokio::spawn(async move {
                serve_one(stream, peer, router, limits, stopping).await;
                drop(permit);
            });
        } else if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
            tokio::spawn(async move {
                refuse(stream, limits.max_connections).await;
                drop(permit);
            });
        }
    }
    let _ = stop.send(true);
    // Every connection ends: idle ones at once, the others within the timeouts.
    let _ = open.acquire_many(max).await;
    Ok(())
}

/// Serves one connection until it ends, breaks a limit, or the server stops.
async fn serve_one(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = InFlight::start(Arc::clone(&activity));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(in_flight);
                response
            }
        })
    };
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
        replacement: None,
    });
    let builder = Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let watchdog = watchdog(&activity, limits);
    tokio::pin!(watchdog);
    let mut draining = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            // Dropping the connection closes the socket.
            () = &mut watchdog => break,
            _ = stopping.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Answers a connection past the cap with `RequestLimitExceeded`, then closes it.
async fn refuse(mut stream: TcpStream, max: usize) {
    let error = ApiError::new(
        "RequestLimitExceeded",
        format!("The server has {max} connections open, its limit; retry later."),
    );
    let response = raw_response(&error);
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        stream.write_all(&response).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes, so the close is not a reset that
        // would discard the answer before the client reads it.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// A complete HTTP/1.1 answer carrying a Tencent error, closing the connection.
fn raw_response(error: &ApiError) -> Vec<u8> {
    let body = error_json(error, &uuid::Uuid::new_v4().to_string());
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        super::response::CONTENT_TYPE_JSON,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The Tencent error for an HTTP error status hyper sends by itself (no request reached the
/// service: the request could not be parsed).
fn error_for_status(status: &[u8]) -> ApiError {
    match status {
        b"431" | b"413" | b"414" => ApiError::new(
            "RequestSizeLimitExceeded",
            "The request line or headers are larger than the server accepts.",
        ),
        b"505" => ApiError::new(
            "UnsupportedProtocol",
            "Only HTTP/1.1 and HTTP/2 are served.",
        ),
        _ => ApiError::new("InvalidParameter", "The HTTP request is malformed."),
    }
}

/// What the watchdog needs to know about a connection.
struct Activity {
    state: Mutex<ActivityState>,
}

struct ActivityState {
    /// Requests handed to the service and not yet answered.
    in_flight: usize,
    /// When the connection opened, or the first byte of the next request arrived, while no
    /// request was in flight: the headers are due within the header timeout of it.
    head_since: Option<Instant>,
    /// When the last request was answered.
    idle_since: Instant,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                head_since: Some(now),
                idle_since: now,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bytes_read(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
        }
    }

    fn idle(&self) -> bool {
        self.lock().in_flight == 0
    }

    /// Whether the connection broke the header or idle timeout.
    fn expired(&self, now: Instant, limits: &ConnectionLimits) -> bool {
        let state = self.lock();
        if state.in_flight > 0 {
            return false;
        }
        match state.head_since {
            Some(since) => now.duration_since(since) > limits.header_timeout,
            None => now.duration_since(state.idle_since) > limits.idle_timeout,
        }
    }
}

/// A request in the service; dropped when it is answered (or abandoned).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        {
            let mut state = activity.lock();
            state.in_flight += 1;
            state.head_since = None;
        }
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// Completes when the connection breaks the header or idle timeout.
async fn watchdog(activity: &Activity, limits: ConnectionLimits) {
    let tick = (limits.header_timeout.min(limits.idle_timeout) / 5)
        .clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut timer = tokio::time::interval(tick);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        if activity.expired(Instant::now(), &limits) {
            return;
        }
    }
}

/// The connection's socket, reporting reads to its [`Activity`] and turning hyper's own
/// error answers into Tencent errors.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// The Tencent error being written in place of hyper's answer; once set, hyper's writes
    /// are dropped (it closes the connection after such an answer).
    replacement: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// Writes what is left of the replacement; `Ready(Ok)` when all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((bytes, written)) = &mut self.replacement else {
            return Poll::Ready(Ok(()));
        };
        while *written < bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other.map_ok(drop),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_none()
            && this.activity.idle()
            && let Some(status) = buf.strip_prefix(b"HTTP/1.1 ").and_then(|b| b.get(..3))
            && matches!(status.first(), Some(b'4' | b'5'))
        {
            // The service answers everything with 200 (docs/serve.md), and no request is in
            // flight: this is hyper refusing a request it could not parse.
            this.replacement = Some((raw_response(&error_for_status(status)), 0));
        }
        if this.replacement.is_some() {
            return this.poll_replacement(cx).map_ok(|()| buf.len());
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    // Not vectored: hyper then hands each answer over as one buffer, status line first.
}
