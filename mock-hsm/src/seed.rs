//! Seed files (docs/seed-format.md).

/// Options of export.
#[derive(Debug, Default, Clone)]
pub struct ExportOptions {}

/// What a seed did.
#[derive(Debug, Default, Clone)]
pub struct SeedReport {}
