//! Envelope format v1: round trips, tampering, recipients, streaming (docs/envelope-format.md).

mod conformance;
mod golden;
mod recipients;
mod roundtrip;
mod streaming;
mod support;
mod tamper;
