//! `tkms`: encrypt and decrypt files with Tencent Cloud KMS keys, or with an embedded offline
//! KMS (mock-hsm); manage keys; run the mock as a service. Usage: docs/cli.md.
//! The command line lives in the library (`tkms::run`), shared with the Python package.

/// mimalloc: `tkms serve` allocates a little per request, and glibc malloc was ~8 % of its
/// Encrypt throughput. Secrets are zeroized before they are freed, whatever the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(tkms::run(std::env::args_os()))
}
