//! The Tencent Cloud KMS HTTP protocol: the TC3-HMAC-SHA256 signature recipe ([`tc3`]) and the
//! names every request carries, always available (the mock's server verifies signatures with
//! them); and, with the `http` feature, the client `HttpKms` over reqwest and tokio.

pub mod tc3;

#[cfg(feature = "http")]
mod client;
#[cfg(feature = "http")]
mod tls;
#[cfg(feature = "http")]
pub use client::{Credentials, HttpKms};
#[cfg(feature = "http")]
pub use tls::TLS_CERTIFICATE_REFUSED;

/// The public endpoint of Tencent Cloud KMS.
pub const DEFAULT_ENDPOINT: &str = "https://kms.tencentcloudapi.com";
/// The KMS API version every request names.
pub const API_VERSION: &str = "2019-01-18";
/// The service name in the credential scope.
pub const SERVICE: &str = "kms";
