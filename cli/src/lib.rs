//! `tkms`: encrypt and decrypt files with Tencent Cloud KMS keys, or with an embedded offline
//! KMS (mock-hsm); manage keys; run the mock as a service. Usage: docs/cli.md.
//!
//! The library is the command line itself ([`run`], which the `tkms` binary and the Python
//! console script call) plus the envelope operations the Python package exposes
//! ([`library`], docs/python.md), built on the same code as `tkms encrypt`/`decrypt`/`inspect`.

mod args;
mod audit;
mod backend;
mod batch;
mod crypt;
mod datakeys;
mod error;
mod inspect;
mod io;
mod keys;
pub mod library;
mod outfile;
mod readahead;
mod serve;
mod sign;
mod sm4;
mod tde;

use std::ffi::OsString;

use std::sync::OnceLock;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command};
pub use crate::error::CliError as Error;
use crate::error::CliResult;

/// Runs the command line `args` (program name first) exactly as the `tkms` binary does: same
/// output on the same streams, and returns the exit code (docs/cli.md).
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // The version line names the SM4-GCM backend, known only at run time; one string per process.
    static VERSION: OnceLock<String> = OnceLock::new();
    let version = VERSION.get_or_init(sm4::version).as_str();
    let parsed = Cli::command()
        .version(version)
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            // Help and --version go to stdout with 0; usage errors to stderr with 2.
            let _ = err.print();
            return u8::try_from(err.exit_code()).unwrap_or(error::Exit::Usage as u8);
        }
    };
    match sm4::check_settings().and_then(|()| dispatch(&cli)) {
        Ok(()) => 0,
        Err(err) => {
            err.report();
            err.exit_code()
        }
    }
}

fn dispatch(cli: &Cli) -> CliResult<()> {
    match &cli.command {
        Command::Encrypt(args) => crypt::encrypt(args, &cli.kms),
        Command::Decrypt(args) => crypt::decrypt(args, &cli.kms),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Key(args) => keys::run(args, &cli.kms),
        Command::Serve(args) => serve::serve(args, &cli.kms),
        Command::Audit(args) => audit::run(args, &backend::data_dir(&cli.kms)?),
        Command::Tde(args) => tde::run_cli(args, &cli.kms),
        Command::Completions(args) => {
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "tkms",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}
