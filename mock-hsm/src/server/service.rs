//! `tkms serve` in one call: the [`Hsm`] over a data directory, the root credentials, the
//! HTTP server. The CLI parses its flags into [`ServiceConfig`] and calls [`run_service`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::{
    CredentialSource, DEFAULT_LISTEN, DEFAULT_REGION, RootCredentials, ServeOptions, serve,
};
use crate::hsm::{Hsm, HsmConfig};

/// What `tkms serve` needs to know.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Key store and root-credential directory; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Address to bind (port 0: any free port).
    pub listen: SocketAddr,
    /// Region of requests that name none.
    pub region: String,
    /// Serve the `/_tkms/*` test controls (and give the HSM a mock clock they can move).
    pub test_controls: bool,
    /// The 5-minute timestamp check (turn off only to replay recorded requests).
    pub check_clock_skew: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            listen: DEFAULT_LISTEN,
            region: DEFAULT_REGION.to_owned(),
            test_controls: false,
            check_clock_skew: true,
        }
    }
}

/// Opens the HSM as configured.
pub fn open_hsm(config: &ServiceConfig) -> std::io::Result<Hsm> {
    let hsm_config = match &config.data_dir {
        Some(dir) => HsmConfig::directory(dir),
        None => HsmConfig::in_memory(),
    }
    .with_default_region(config.region.clone());
    let hsm_config = if config.test_controls {
        hsm_config.with_mock_clock()
    } else {
        hsm_config
    };
    Hsm::open(hsm_config).map_err(std::io::Error::other)
}

/// Runs `tkms serve` until SIGINT or SIGTERM: opens the HSM, resolves the root credentials
/// (showing a newly generated key once on stderr), prints `listening on http://HOST:PORT`.
pub fn run_service(config: ServiceConfig) -> std::io::Result<()> {
    if let Some(dir) = &config.data_dir {
        std::fs::create_dir_all(dir)?;
    }
    let hsm = open_hsm(&config)?;
    let (root, source) = RootCredentials::resolve(config.data_dir.as_deref())?;
    if let CredentialSource::Generated(stored) = &source {
        let where_ = stored.as_ref().map_or_else(
            || "not stored: no data directory".to_owned(),
            |p| format!("stored in {}", p.display()),
        );
        eprintln!(
            "tkms serve: generated root credentials ({where_}); shown only now:\n  \
             TENCENTCLOUD_SECRET_ID={}\n  TENCENTCLOUD_SECRET_KEY={}",
            root.secret_id,
            root.secret_key.as_str()
        );
    }
    let mut options = ServeOptions::with_root(&root);
    options.listen = config.listen;
    options.region = config.region;
    options.test_controls = config.test_controls;
    options.check_clock_skew = config.check_clock_skew;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(Arc::new(hsm), options))
}
