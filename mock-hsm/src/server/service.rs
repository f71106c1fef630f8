//! A server as `tkms serve` configures it: [`ServiceConfig`], the [`Hsm`] it opens, and the
//! server options with CAM and the audit trail ([`TestServer::start_service`] runs one, for
//! the Python package and tests).
//!
//! [`TestServer::start_service`]: super::TestServer::start_service

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Cam, DEFAULT_LISTEN, DEFAULT_REGION, RootCredentials, ServeOptions};
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
    /// Regions served beyond the built-in list (`--regions`, docs/serve.md "Regions").
    pub regions: Vec<String>,
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
            regions: Vec::new(),
        }
    }
}

/// Opens the HSM as configured.
pub fn open_hsm(config: &ServiceConfig) -> std::io::Result<Hsm> {
    let hsm_config = match &config.data_dir {
        Some(dir) => HsmConfig::directory(dir),
        None => HsmConfig::in_memory(),
    }
    .with_default_region(config.region.clone())
    .with_regions(&config.regions)
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let hsm_config = if config.test_controls {
        hsm_config.with_mock_clock()
    } else {
        hsm_config
    };
    Hsm::open(hsm_config).map_err(std::io::Error::other)
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
