//! `tkms audit`: the audit trail of a `tkms serve` data directory (docs/cam.md), read
//! directly from its database, read-only (safe while the server runs).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use mock_hsm::{AuditQuery, AuditRecord, DB_FILE, ResultFilter, query_database};

use crate::error::{CliError, CliResult};
use crate::io::Sink;

/// Show the audit trail of a `tkms serve` data directory.
#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
  tkms audit --data-dir /var/lib/tkms --result error
  tkms audit --identity alice --from 2026-01-01T00:00:00Z --output jsonl
  tkms audit --action Decrypt --key 6f1c...-... --export decrypts.jsonl")]
pub(crate) struct AuditArgs {
    /// Only calls at or after this time (RFC 3339 such as 2026-01-01T00:00:00Z, or Unix seconds)
    #[arg(long, value_name = "TIME")]
    pub(crate) from: Option<String>,
    /// Only calls at or before this time
    #[arg(long, value_name = "TIME")]
    pub(crate) to: Option<String>,
    /// Only this action (Encrypt, DisableKey, sts:AssumeRole...)
    #[arg(long, value_name = "ACTION")]
    pub(crate) action: Option<String>,
    /// Only calls naming this key id
    #[arg(long, value_name = "KEY_ID")]
    pub(crate) key: Option<String>,
    /// Only this identity (root, a user name, role/NAME/SESSION)
    #[arg(long, value_name = "IDENTITY")]
    pub(crate) identity: Option<String>,
    /// Only successes (ok), failures (error), or failures with this error code
    #[arg(long, value_name = "ok|error|CODE")]
    pub(crate) result: Option<String>,
    /// How to print the rows
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) output: AuditOutput,
    /// Also write the rows as JSON lines to FILE (created; refuses to overwrite)
    #[arg(long, value_name = "FILE")]
    pub(crate) export: Option<PathBuf>,
}

/// Row format on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuditOutput {
    /// Aligned columns
    Table,
    /// One JSON object per line
    Jsonl,
}

fn parse_time(flag: &str, text: &str) -> CliResult<u64> {
    mock_hsm::parse_time(text).ok_or_else(|| {
        CliError::usage(format!(
            "{flag} {text:?}: expected RFC 3339 (2026-01-01T00:00:00Z) or Unix seconds"
        ))
    })
}

fn query_of(args: &AuditArgs) -> CliResult<AuditQuery> {
    Ok(AuditQuery {
        from: args
            .from
            .as_deref()
            .map(|t| parse_time("--from", t))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|t| parse_time("--to", t))
            .transpose()?,
        action: args.action.clone(),
        key_id: args.key.clone(),
        identity: args.identity.clone(),
        result: args
            .result
            .as_deref()
            .map(|r| r.parse::<ResultFilter>())
            .transpose()
            .map_err(|e| CliError::usage(format!("--result: {e}")))?,
    })
}

fn jsonl(records: &[AuditRecord], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn table(records: &[AuditRecord], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            [
                crate::keys::format_time(r.time),
                r.account_uin.to_string(),
                r.identity.clone(),
                r.source_ip.clone().unwrap_or_else(|| "-".into()),
                r.action.clone(),
                r.key_id.clone().unwrap_or_else(|| "-".into()),
                r.result.clone(),
                r.request_id.clone(),
            ]
        })
        .collect();
    let header = [
        "TIME", "ACCOUNT", "IDENTITY", "SOURCE", "ACTION", "KEY", "RESULT", "REQUEST",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut line = |cells: &[&str]| -> std::io::Result<()> {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", text.join("  ").trim_end())
    };
    line(&header)?;
    for row in &rows {
        line(&row.each_ref().map(String::as_str))?;
    }
    Ok(())
}

/// The database of a data directory.
fn database(data_dir: &Path) -> CliResult<PathBuf> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(CliError::usage(format!(
            "no key store in {} (expected {DB_FILE})",
            data_dir.display()
        ))
        .with_hint("pass the --data-dir of the tkms serve to audit"));
    }
    Ok(path)
}

/// Runs `tkms audit` over the store in `data_dir`.
pub(crate) fn run(args: &AuditArgs, data_dir: &Path) -> CliResult<()> {
    let query = query_of(args)?;
    let records = query_database(&database(data_dir)?, &query).map_err(|e| {
        CliError::general(format!(
            "reading the audit trail in {}: {e}",
            data_dir.display()
        ))
    })?;
    if let Some(path) = &args.export {
        // All or nothing, and never over an existing file (docs/cli.md).
        let mut sink = Sink::open(Some(path), false)?;
        jsonl(&records, &mut sink).map_err(|e| CliError::write(Some(path), &e))?;
        sink.commit()?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        AuditOutput::Table => table(&records, &mut out),
        AuditOutput::Jsonl => jsonl(&records, &mut out),
    }
    .and_then(|()| out.flush())
    .map_err(|e| CliError::write(None, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("--from", "0").unwrap(), 0);
        assert_eq!(
            parse_time("--from", "2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600
        );
        assert_eq!(
            parse_time("--from", "2026-01-01T08:00:00+08:00").unwrap(),
            1_767_225_600
        );
        assert!(parse_time("--from", "tomorrow").is_err());
        assert_eq!(
            crate::keys::format_time(1_767_225_600),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            crate::keys::format_time(951_827_696),
            "2000-02-29T12:34:56Z"
        );
    }
}
