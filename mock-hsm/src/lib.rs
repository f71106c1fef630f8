//! An offline Tencent Cloud KMS: CMKs with versions and rotation schedules, a durable encrypted
//! key store, and the KMS API (version 2019-01-18).
//!
//! [`Hsm`] is the transport-free core; it implements [`KmsApi`] (action name + JSON in, JSON
//! out). [`InProcess`] adapts it to `kms_core::kms::KmsTransport`, and the `server` feature
//! serves it over HTTP.

#![deny(missing_docs)]

mod api;
mod audit;
mod blob;
mod cam;
mod clock;
mod dispatch;
mod hsm;
mod inprocess;
mod material;
mod names;
mod seed;
mod store;

#[cfg(feature = "server")]
pub mod server;

// The public interface is:
pub use api::{Admission, Admit, ApiError, CallContext, CallTargets, KmsApi};
pub use audit::{
    AuditError, AuditLog, AuditQuery, AuditRecord, RESULT_OK, ResultFilter, query_database,
};
pub use cam::{
    AccessRequest, CamConfig, ConfigError, DEFAULT_RETENTION_DAYS, Decision, Grant, IdentityKind,
    KeyResource, Policy, PolicyError, SessionKey, Sessions, TempCredentials, parse_time,
};
pub use clock::{Clock, MAX_TIME, MockClock, SystemClock};
pub use hsm::{
    Hsm, HsmConfig, Maintenance, REGIONS, SM_REGIONS, SymmetricPolicy, check_region_name,
    key_usage_names,
};
pub use inprocess::{DEFAULT_ACCOUNT_UIN, InProcess};
pub use material::Algorithm;
pub use seed::{ExportOptions, SeedReport};
pub use store::{DB_FILE, OpenError, ROOT_KEY_ENV, ROOT_KEY_FILE, RootKeySource, Storage};
