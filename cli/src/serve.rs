//! `tkms serve`: the mock KMS over HTTP (mock_hsm::server, docs/serve.md).

use crate::args::{KmsArgs, ServeArgs};
use crate::backend;
use crate::error::{CliError, CliResult};

pub(crate) fn serve(args: &ServeArgs, kms_args: &KmsArgs) -> CliResult<()> {
    let data_dir = if args.in_memory {
        None
    } else {
        Some(backend::data_dir(kms_args)?)
    };
    // TODO(merge): mock_hsm::server::serve_blocking (serve branch); wired on branch `scratch`.
    let _ = (
        data_dir,
        &args.listen,
        &args.seed,
        args.test_controls,
        args.insecure_no_clock_skew_check,
    );
    Err(CliError::general(
        "`tkms serve` is not available in this build of tkms yet",
    ))
}
