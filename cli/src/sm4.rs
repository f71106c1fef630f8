//! The SM4-GCM backend this process runs, as `tkms --version` reports it, and the startup check:
//! invalid SM4 settings stop every command, and the table-based opt-in is announced on stderr
//! (docs/sm4.md, "Constant-time guarantee").

use kms_core::aead::{SM4_ALLOW_TABLE_ENV, Sm4Refused, sm4_selection};

use crate::error::{CliError, CliResult};

/// `tkms --version`: the package version and the SM4-GCM backend (or why SM4 is refused).
pub(crate) fn version() -> String {
    let sm4 = match sm4_selection() {
        Ok(s) if s.opted_in => format!(
            "{} (table-based, NOT constant-time; allowed by {}=1)",
            s.backend.name(),
            SM4_ALLOW_TABLE_ENV
        ),
        Ok(s) => format!("{} (constant-time)", s.backend.name()),
        Err(refused) => format!("none ({refused})"),
    };
    format!("{}\nSM4-GCM backend: {sm4}", env!("CARGO_PKG_VERSION"))
}

/// Fails on an invalid SM4 setting; warns when SM4 runs table-based by opt-in. A CPU with only
/// the table-based backend and no opt-in is not an error here: AES works, and SM4 use says why
/// it is refused.
pub(crate) fn check_settings() -> CliResult<()> {
    match sm4_selection() {
        Ok(s) if s.opted_in => {
            eprintln!(
                "warning: SM4-GCM runs on the table-based `{}` backend, which is NOT constant-time \
                 (cache timing can leak key bits); allowed by {}=1",
                s.backend.name(),
                SM4_ALLOW_TABLE_ENV
            );
            Ok(())
        }
        Ok(_) | Err(Sm4Refused::TableBackendNotAllowed) => Ok(()),
        Err(refused) => Err(CliError::usage(refused.to_string())
            .with_hint("see docs/sm4.md, \"Constant-time guarantee\"")),
    }
}

/// For `tkms serve`: a server refusing SM4 answers SM4 CMK calls with an InternalError whose
/// detail clients never see, so its operator reads the reason here, at startup.
pub(crate) fn note_refusal_for_server() {
    if let Err(refused) = sm4_selection() {
        eprintln!("note: calls with SM4 CMKs will fail: {refused}");
    }
}
