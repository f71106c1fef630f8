//! An offline Tencent Cloud KMS: CMKs with versions and rotation schedules, a durable encrypted
//! key store, and the KMS API (version 2019-01-18).

#![deny(missing_docs)]

mod api;
mod clock;

#[cfg(feature = "server")]
pub mod server;

// The public interface is:
pub use api::{ApiError, CallContext, KmsApi};
pub use clock::{Clock, MockClock, SystemClock};
