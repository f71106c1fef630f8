//! A TestServer over a fresh in-memory Hsm that keeps an audit trail, and a root client.

use std::sync::Arc;

use kms_core::http::{Credentials, HttpKms};
use mock_hsm::server::{RootCredentials, ServeOptions, TestServer};
use mock_hsm::{AuditLog, Hsm, HsmConfig};

/// The server (stops when dropped), its audit trail and an HTTP client with root credentials.
pub(crate) fn audited_server() -> (TestServer, Arc<AuditLog>, Arc<HttpKms>) {
    let root = RootCredentials::generate().unwrap();
    let mut options = ServeOptions::with_root(&root);
    let audit = Arc::new(AuditLog::open(None).unwrap());
    options.audit = Some(audit.clone());
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory()).unwrap());
    let server = TestServer::start_with(hsm, root, options).unwrap();
    let kms = Arc::new(
        HttpKms::new(
            server.endpoint(),
            Credentials::new(server.secret_id(), server.secret_key()),
        )
        .unwrap()
        .with_region(server.region()),
    );
    (server, audit, kms)
}
