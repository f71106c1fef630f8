//! Benchmarks live in benches/benches; what they share with the examples lives here.

pub mod envelope_ops;
