//! `tkms`: encrypt and decrypt files with Tencent Cloud KMS keys, or with an embedded offline
//! KMS (mock-hsm); manage keys; run the mock as a service. Usage: docs/cli.md.

mod args;
mod backend;
mod crypt;
mod error;
mod inspect;
mod io;
mod keys;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::error::CliResult;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            err.report();
            ExitCode::from(err.exit_code())
        }
    }
}

fn run(cli: &Cli) -> CliResult<()> {
    match &cli.command {
        Command::Encrypt(args) => crypt::encrypt(args, &cli.kms),
        Command::Decrypt(args) => crypt::decrypt(args, &cli.kms),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Key(args) => keys::run(args, &cli.kms),
        Command::Serve(args) => serve::serve(args, &cli.kms),
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
