//! What one client may hold (docs/serve.md, "Connections and timeouts"): how long it may take
//! to send its request headers and body, how long an idle keep-alive connection stays open,
//! and how many connections are open at once. The server also raises its own soft file limit
//! to the hard limit at start, so the cap, not the file limit, is what refuses clients.

use std::time::Duration;

/// Request headers must arrive within this time of the connection opening, or of the first
/// byte of a later request on it.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body must arrive whole within this time of its headers.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A keep-alive connection with no request in progress is closed after this time.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Open connections at most; more are refused with `RequestLimitExceeded`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// File descriptors kept for everything but client connections (the store's SQLite files,
/// the audit trail, the listener, refusals in progress, the runtime).
const RESERVED_FDS: u64 = 64;

/// The limits on client connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// See [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`DEFAULT_BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`DEFAULT_MAX_CONNECTIONS`]; lowered at start to what the file limit allows.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnectionLimits {
    /// Raises the soft RLIMIT_NOFILE to the hard limit, then lowers `max_connections` to
    /// what that many descriptors allow (saying so on stderr).
    pub(crate) fn fit_file_limit(mut self) -> Self {
        let Some(files) = raise_file_limit() else {
            return self;
        };
        let budget =
            usize::try_from(files.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX);
        if self.max_connections > budget {
            eprintln!(
                "tkms serve: at most {budget} connections (the file limit is {files}), not {}",
                self.max_connections
            );
            self.max_connections = budget;
        }
        self
    }
}

/// Sets the soft file limit to the hard one; returns the resulting soft limit (`None` when
/// unlimited or unknown).
fn raise_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    limit.current
}
