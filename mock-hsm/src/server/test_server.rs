//! A server on a free loopback port for tests, on a runtime of its own (so it works from
//! plain `#[test]` functions and from async tests alike).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;

use super::{RootCredentials, ServeOptions, Server};
use crate::api::KmsApi;

/// A running `tkms serve` on `127.0.0.1:<free port>`; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    endpoint: String,
    root: RootCredentials,
    region: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server for `backend` with fresh random root credentials, test controls on and
    /// the clock-skew check on.
    pub fn start(backend: Arc<dyn KmsApi>) -> std::io::Result<Self> {
        let root = RootCredentials::generate()?;
        let mut options = ServeOptions::with_root(&root);
        options.test_controls = true;
        Self::start_with(backend, root, options)
    }

    /// Starts a server over a fresh in-memory [`Hsm`](crate::Hsm) with a mock clock (moved
    /// by the test controls), fresh root credentials, test controls on.
    pub fn start_in_memory() -> std::io::Result<Self> {
        let config = super::ServiceConfig {
            test_controls: true,
            ..super::ServiceConfig::default()
        };
        Self::start(Arc::new(super::open_hsm(&config)?))
    }

    /// Starts the server `tkms serve --test-controls` would run for `config` (its data
    /// directory, created private when missing, or memory; region; CAM config file) with the
    /// `seeds` files applied, fresh root credentials and the audit trail on. `config.listen`
    /// and `config.test_controls` are ignored: loopback port 0, controls on.
    pub fn start_service(
        config: &super::ServiceConfig,
        seeds: &[std::path::PathBuf],
    ) -> std::io::Result<Self> {
        if let Some(dir) = &config.data_dir {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let config = super::ServiceConfig {
            test_controls: true,
            ..config.clone()
        };
        let hsm = super::open_hsm(&config)?;
        for seed in seeds {
            hsm.apply_seed_file(seed)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        let root = RootCredentials::generate()?;
        let mut options = super::service_options(&hsm, &root, config.config.as_deref())?;
        options.region = config.region;
        options.test_controls = true;
        options.check_clock_skew = config.check_clock_skew;
        Self::start_with(Arc::new(hsm), root, options)
    }

    /// Starts a server with these options; `root` is what [`secret_id`](Self::secret_id) and
    /// [`secret_key`](Self::secret_key) report (it should be in `options.credentials`). The
    /// listen address is always `127.0.0.1:0`.
    pub fn start_with(
        backend: Arc<dyn KmsApi>,
        root: RootCredentials,
        mut options: ServeOptions,
    ) -> std::io::Result<Self> {
        options.listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let region = options.region.clone();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tkms-test-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let server = match Server::bind(backend, options).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(server.local_addr());
                    let _ = server
                        .run_until(async move {
                            let _ = stop.await;
                        })
                        .await;
                });
            })?;
        let addr = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the test server thread died"))??;
        Ok(Self {
            addr,
            endpoint: format!("http://{addr}"),
            root,
            region,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The root SecretId.
    pub fn secret_id(&self) -> &str {
        &self.root.secret_id
    }

    /// The root SecretKey.
    pub fn secret_key(&self) -> &str {
        &self.root.secret_key
    }

    /// The default region.
    pub fn region(&self) -> &str {
        &self.region
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
