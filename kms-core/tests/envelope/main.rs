//! Envelope format v1: round trips, tampering, recipients, streaming (docs/envelope-format.md).

// A test crate: helpers outside #[test] functions unwrap too (clippy.toml covers only the tests).
#![allow(clippy::unwrap_used)]

mod conformance;
mod direct;
#[cfg(unix)]
mod file;
mod recipients;
mod roundtrip;
mod streaming;
mod support;
mod tamper;
mod thread_pools;
