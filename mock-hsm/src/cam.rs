//! CAM for the mock (docs/cam.md): identities and their keys from the `--config` file, the
//! policy language, the decision on each request, and role sessions (`sts:AssumeRole`).
//! Transport-free: the server asks, the core answers.

mod condition;
mod config;
mod policy;
mod session;

pub use condition::parse_time;
pub use config::{CamConfig, ConfigError, DEFAULT_RETENTION_DAYS, Decision, Grant, IdentityKind};
pub use policy::{AccessRequest, KeyResource, Policy, PolicyError};
pub use session::{SessionKey, Sessions, TempCredentials};
