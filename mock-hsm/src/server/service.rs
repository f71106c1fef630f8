//! `tkms serve` in one call: the [`Hsm`] over a data directory, the root credentials, the
//! HTTP server. The CLI parses its flags into [`ServiceConfig`] and calls [`run_service`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::{
    Cam, CredentialSource, DEFAULT_LISTEN, DEFAULT_REGION, RootCredentials, ServeOptions, serve,
};
use crate::audit::AuditLog;
use crate::clock::{Clock, SystemClock};
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
    /// The CAM config file (`--config`, docs/cam.md): identities, policies, audit retention.
    /// Reloaded on SIGHUP. `None`: only the root credentials, unrestricted.
    pub config: Option<PathBuf>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            listen: DEFAULT_LISTEN,
            region: DEFAULT_REGION.to_owned(),
            test_controls: false,
            check_clock_skew: true,
            config: None,
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
    let hsm = Arc::new(open_hsm(&config)?);
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
    let mut options = service_options(&hsm, &root, config.config.as_deref())?;
    options.listen = config.listen;
    options.region = config.region;
    options.test_controls = config.test_controls;
    options.check_clock_skew = config.check_clock_skew;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(hsm, options))
}

/// The server options for `hsm`: CAM from `config` (refused with the config's error when it
/// does not load) or only `root`, and the audit trail in the HSM's database.
pub fn service_options(
    hsm: &Hsm,
    root: &RootCredentials,
    config: Option<&std::path::Path>,
) -> std::io::Result<ServeOptions> {
    let mut options = match config {
        Some(path) => {
            let clock: Arc<dyn Clock> = match hsm.mock_clock() {
                Some(clock) => Arc::clone(clock) as Arc<dyn Clock>,
                None => Arc::new(SystemClock),
            };
            let cam = Cam::load(path, clock)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
                .with_root(root);
            ServeOptions::with_cam(Arc::new(cam))
        }
        None => ServeOptions::with_root(root),
    };
    options.audit = Some(Arc::new(
        AuditLog::open(hsm.database_path()).map_err(std::io::Error::other)?,
    ));
    Ok(options)
}
