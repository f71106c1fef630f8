//! `tkms serve`: the mock KMS over HTTP (mock_hsm::server).

use crate::args::{KmsArgs, ServeArgs};
use crate::backend;
use crate::error::{CliError, CliResult};

pub(crate) fn serve(args: &ServeArgs, kms_args: &KmsArgs) -> CliResult<()> {
    let data_dir = if args.in_memory {
        None
    } else {
        Some(backend::data_dir(kms_args)?)
    };
    // TODO(merge): delegate to the mock_hsm::server entry point (serve branch) with
    // listen, data_dir / in-memory, seeds, config, region and test controls.
    let _ = (
        data_dir,
        &args.listen,
        &args.seed,
        &args.config,
        &kms_args.region,
        args.test_controls,
    );
    Err(CliError::general(
        "`tkms serve` is not available in this build of tkms yet",
    ))
}
