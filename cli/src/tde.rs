//! `tkms tde`: a TencentDB-style transparent data encryption instance in a directory, its master
//! key wrapped by a KMS CMK (docs/tde.md). Every command works with whatever KMS transport the
//! CLI was given (the embedded mock or `--endpoint`).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};
use kms_core::Suite;
use kms_core::kms::{KeyManagement as _, KmsTransport};
use kms_core::tde::{DEFAULT_PAGE_SIZE, InitOptions, Instance, TDE_PRODUCT_ID, TdeError};

use crate::args::{KmsArgs, OutputFormat, TdeArgs};
use crate::backend::{DEFAULT_KEY_ALIAS, Kms};
use crate::error::{CliError, CliResult as Result};
use serde_json::json;
use zeroize::Zeroizing;

use crate::io::Sink;

/// The page cipher of a new instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Cipher {
    /// AES-256-GCM pages, HKDF/HMAC with SHA-256.
    Aes,
    /// SM4-GCM pages (RFC 8998), HKDF/HMAC with SM3.
    Sm4,
}

impl Cipher {
    fn suite(self) -> Suite {
        match self {
            Self::Aes => Suite::Aes256Gcm,
            Self::Sm4 => Suite::Sm4Gcm,
        }
    }
}

/// `tkms tde ...`
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum TdeCommand {
    /// Create an instance in DIR: a master key from GenerateDataKey under the CMK, of which only
    /// the CiphertextBlob is stored. The CMK is bound to the instance (BindCloudResource, product
    /// cdb), so the KMS refuses to disable, archive or delete it until `tde unbind`.
    Init {
        /// The instance directory (created if missing).
        dir: PathBuf,
        /// The KMS CMK that wraps the master key.
        #[arg(long)]
        key: String,
        /// The page cipher.
        #[arg(long, value_enum, default_value_t = Cipher::Aes)]
        cipher: Cipher,
        /// Plaintext bytes per page: a power of two from 4096 to 65536.
        #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
        page_size: u32,
    },
    /// Create table TABLE from FILE ("-" for stdin): its bytes become encrypted pages.
    Load {
        /// The instance directory.
        dir: PathBuf,
        /// The table (1 to 64 of A-Z a-z 0-9 _ -).
        table: String,
        /// The input file, or "-" for stdin.
        file: PathBuf,
    },
    /// Decrypt every page of TABLE and write its bytes (as loaded) to stdout or -o FILE.
    Dump {
        /// The instance directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// Write to FILE instead of stdout (all or nothing: FILE appears only when complete).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Decrypt one page and write it (a full page) to stdout or -o FILE.
    Read {
        /// The instance directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// The page number (from 0).
        #[arg(long)]
        page: u64,
        /// Write to FILE instead of stdout (all or nothing: FILE appears only when complete).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Encrypt one page from stdin or -i FILE (padded with zeros to the page size). The page
    /// may be the page count (append).
    Write {
        /// The instance directory.
        dir: PathBuf,
        /// The table (created if missing).
        table: String,
        /// The page number (from 0).
        #[arg(long)]
        page: u64,
        /// Read the page from FILE instead of stdin.
        #[arg(short = 'i', long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
    },
    /// Authenticate every page of every table; report how many.
    Verify {
        /// The instance directory.
        dir: PathBuf,
    },
    /// Rewrap every tablespace key under a new master key (from the CMK's newest version)
    /// without touching a page.
    RotateMaster {
        /// The instance directory.
        dir: PathBuf,
    },
    /// Re-encrypt TABLE's pages under a new tablespace key (resumes an interrupted rekey).
    Rekey {
        /// The instance directory.
        dir: PathBuf,
        /// The table.
        table: String,
    },
    /// Bind the CMK to the instance again (BindCloudResource, product cdb; `init` does it).
    Bind {
        /// The instance directory.
        dir: PathBuf,
    },
    /// Release the CMK (UnbindCloudResource): the KMS lets it be disabled or deleted again,
    /// which stops the instance. The first step of tearing an instance down.
    Unbind {
        /// The instance directory.
        dir: PathBuf,
    },
    /// Show key ids, key generations and the CMK's state (DescribeKey). Needs no Decrypt, so it
    /// works while the CMK is disabled.
    Status {
        /// The instance directory.
        dir: PathBuf,
    },
}

/// `tkms tde`: resolves `init`'s CMK (an alias, or the default key), then runs the command.
pub(crate) fn run_cli(args: &TdeArgs, kms_args: &KmsArgs) -> Result<()> {
    let backend = Kms::open(kms_args)?;
    let mut command = args.command.clone();
    if let TdeCommand::Init { key, .. } = &mut command {
        let cmk = if key == DEFAULT_KEY_ALIAS {
            backend.default_key()?
        } else {
            backend.resolve(key)?
        };
        *key = cmk.key_id;
    }
    run(
        command,
        backend.transport(),
        args.output == OutputFormat::Json,
    )
}

/// Runs a `tkms tde` command. `json` selects `--output json` for commands that report.
fn run(cmd: TdeCommand, kms: Arc<dyn KmsTransport>, json: bool) -> Result<()> {
    let kms: &dyn KmsTransport = &*kms;
    match cmd {
        TdeCommand::Init {
            dir,
            key,
            cipher,
            page_size,
        } => {
            let options = InitOptions {
                suite: cipher.suite(),
                page_size,
            };
            let instance =
                Instance::create(&dir, kms, &key, options).map_err(|e| explain(e, &dir))?;
            kms.set_cloud_binding(&key, TDE_PRODUCT_ID, &instance.resource_id(), true)
                .map_err(|e| {
                    explain(e.into(), &dir).with_hint(format!(
                        "the instance was created but its CMK is not bound to it; retry with `tkms tde bind {}`",
                        dir.display()
                    ))
                })?;
            report(
                json,
                json!({"dir": dir, "cmk": key, "cipher": cipher.suite().name(), "page_size": page_size,
                       "master_generation": instance.master_generation()}),
                format!(
                    "created TDE instance in {} (CMK {key}, {}, {page_size}-byte pages, master key generation {})",
                    dir.display(),
                    cipher.suite(),
                    instance.master_generation()
                ),
            )
        }
        TdeCommand::Load { dir, table, file } => {
            let instance = open(&dir, kms)?;
            let mut input: Box<dyn Read> = if file == Path::new("-") {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(File::open(&file).map_err(|e| CliError::read(Some(&file), &e))?)
            };
            let mut tablespace = instance
                .create_tablespace(&table)
                .map_err(|e| explain(e, &dir))?;
            let pages = tablespace.load(&mut input)?;
            report(
                json,
                json!({"table": table, "pages": pages, "bytes": tablespace.data_len()}),
                format!(
                    "loaded {} bytes into table {table}: {pages} pages",
                    tablespace.data_len()
                ),
            )
        }
        TdeCommand::Dump {
            dir,
            table,
            out,
            force,
        } => {
            let instance = open(&dir, kms)?;
            let tablespace = instance
                .open_tablespace(&table)
                .map_err(|e| explain(e, &dir))?;
            let mut sink = Sink::open(out.as_deref(), force)?;
            tablespace.dump(&mut sink)?;
            Ok(sink.commit()?)
        }
        TdeCommand::Read {
            dir,
            table,
            page,
            out,
            force,
        } => {
            let instance = open(&dir, kms)?;
            let tablespace = instance
                .open_tablespace(&table)
                .map_err(|e| explain(e, &dir))?;
            let plain = tablespace.read_page(page)?;
            let mut sink = Sink::open(out.as_deref(), force)?;
            sink.write_all(&plain)
                .map_err(|e| CliError::write(out.as_deref(), &e))?;
            Ok(sink.commit()?)
        }
        TdeCommand::Write {
            dir,
            table,
            page,
            input,
        } => {
            let instance = open(&dir, kms)?;
            let mut tablespace = match instance.open_tablespace(&table) {
                Err(TdeError::NotFound(_)) => instance.create_tablespace(&table)?,
                other => other.map_err(|e| explain(e, &dir))?,
            };
            let limit = tablespace.page_size() as u64 + 1;
            let mut content = Zeroizing::new(Vec::new());
            match &input {
                None => std::io::stdin()
                    .lock()
                    .take(limit)
                    .read_to_end(&mut content),
                Some(path) => {
                    File::open(path).and_then(|f| f.take(limit).read_to_end(&mut content))
                }
            }
            .map_err(|e| CliError::read(input.as_deref(), &e))?;
            if content.len() > tablespace.page_size() {
                return Err(CliError::general(format!(
                    "the page content is longer than the page size ({} bytes)",
                    tablespace.page_size()
                )));
            }
            tablespace.write_page(page, &content)?;
            report(
                json,
                json!({"table": table, "page": page, "bytes": content.len(), "page_count": tablespace.page_count()}),
                format!(
                    "wrote page {page} of table {table} ({} bytes, padded)",
                    content.len()
                ),
            )
        }
        TdeCommand::Verify { dir } => verify(&dir, kms, json),
        TdeCommand::RotateMaster { dir } => {
            let mut instance = open(&dir, kms)?;
            let r = instance.rotate_master(kms)?;
            report(
                json,
                json!({"old_master_generation": r.old_generation, "new_master_generation": r.new_generation,
                       "tablespaces": r.tablespaces, "pages_untouched": r.pages_untouched,
                       "elapsed_ms": r.elapsed.as_secs_f64() * 1000.0}),
                format!(
                    "rotated the master key: generation {} -> {}; {} tablespace headers rewrapped in {:.1} ms; {} pages untouched",
                    r.old_generation,
                    r.new_generation,
                    r.tablespaces,
                    r.elapsed.as_secs_f64() * 1000.0,
                    r.pages_untouched
                ),
            )
        }
        TdeCommand::Rekey { dir, table } => {
            let instance = open(&dir, kms)?;
            let mut tablespace = instance
                .open_tablespace(&table)
                .map_err(|e| explain(e, &dir))?;
            let r = tablespace.rekey()?;
            report(
                json,
                json!({"table": table, "old_key_generation": r.old_generation, "new_key_generation": r.new_generation,
                       "pages_rewritten": r.pages_rewritten, "page_count": r.page_count}),
                format!(
                    "rekeyed table {table}: key generation {} -> {}; {} of {} pages re-encrypted",
                    r.old_generation, r.new_generation, r.pages_rewritten, r.page_count
                ),
            )
        }
        TdeCommand::Bind { dir } => set_binding(&dir, kms, json, true),
        TdeCommand::Unbind { dir } => set_binding(&dir, kms, json, false),
        TdeCommand::Status { dir } => status(&dir, kms, json),
    }
}

/// `tde bind` / `tde unbind`: the CMK's cloud-resource binding (docs/tde.md).
fn set_binding(dir: &Path, kms: &dyn KmsTransport, json: bool, bind: bool) -> Result<()> {
    let info = Instance::inspect(dir).map_err(|e| explain(e, dir))?;
    kms.set_cloud_binding(&info.cmk_id, TDE_PRODUCT_ID, &info.resource_id, bind)
        .map_err(|e| explain(e.into(), dir))?;
    let text = if bind {
        format!(
            "bound CMK {} to {} (product {TDE_PRODUCT_ID}): the KMS refuses to disable or delete it",
            info.cmk_id, info.resource_id
        )
    } else {
        format!(
            "unbound CMK {} from {}: it can be disabled or deleted now, which stops the instance",
            info.cmk_id, info.resource_id
        )
    };
    report(
        json,
        json!({"cmk": info.cmk_id, "product": TDE_PRODUCT_ID, "resource": info.resource_id, "bound": bind}),
        text,
    )
}

fn open(dir: &Path, kms: &dyn KmsTransport) -> Result<Instance> {
    Instance::open(dir, kms).map_err(|e| explain(e, dir))
}

fn explain(err: TdeError, dir: &Path) -> CliError {
    CliError::tde(err, Some(dir))
}

fn report(json: bool, value: serde_json::Value, text: String) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values always serialise")
        );
    } else {
        println!("{text}");
    }
    Ok(())
}

fn verify(dir: &Path, kms: &dyn KmsTransport, json: bool) -> Result<()> {
    let instance = open(dir, kms)?;
    let mut tables = Vec::new();
    let mut total = 0;
    let mut failed = 0;
    for name in instance.tablespaces()? {
        let result = instance.open_tablespace(&name).and_then(|t| t.verify());
        match result {
            Ok(pages) => {
                total += pages;
                tables.push(json!({"table": name, "pages": pages, "ok": true}));
                if !json {
                    println!("{name}: {pages} pages authenticated");
                }
            }
            Err(e) => {
                failed += 1;
                tables.push(json!({"table": name, "ok": false, "error": e.to_string()}));
                if !json {
                    println!("{name}: FAILED: {e}");
                }
            }
        }
    }
    if json {
        let value = json!({"pages_verified": total, "tables": tables, "failed_tables": failed});
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values always serialise")
        );
    } else {
        println!(
            "{total} pages authenticated in {} tables",
            tables.len() - failed
        );
    }
    if failed > 0 {
        return Err(CliError::general(format!(
            "{failed} table(s) failed verification"
        )));
    }
    Ok(())
}

fn status(dir: &Path, kms: &dyn KmsTransport, json: bool) -> Result<()> {
    let info = Instance::inspect(dir).map_err(|e| explain(e, dir))?;
    let (state, state_error) = match Instance::describe_cmk(dir, kms) {
        Ok(summary) => (Some(summary.key_state), None),
        Err(e) => (None, Some(e.to_string())),
    };
    if json {
        let tables: Vec<_> = info
            .tablespaces
            .iter()
            .map(|t| {
                json!({"table": t.name, "pages": t.page_count, "master_generation": t.master_generation,
                       "key_generation": t.key_generation,
                       "rekey": t.rekey.map(|(g, done)| json!({"new_key_generation": g, "pages_done": done}))})
            })
            .collect();
        let value = json!({"cmk": info.cmk_id, "cmk_state": state, "cmk_error": state_error,
                           "cipher": info.suite.name(), "page_size": info.page_size,
                           "master_generation": info.master_generation,
                           "pending_master_generation": info.pending_master_generation, "tablespaces": tables});
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values always serialise")
        );
        return Ok(());
    }
    println!("instance:          {}", dir.display());
    println!("CMK:               {}", info.cmk_id);
    match (&state, &state_error) {
        (Some(s), _) => println!("CMK state:         {s}"),
        (None, Some(e)) => println!("CMK state:         unknown ({e})"),
        (None, None) => {}
    }
    println!(
        "cipher:            {}, {}-byte pages",
        info.suite, info.page_size
    );
    println!("master key:        generation {}", info.master_generation);
    if let Some(g) = info.pending_master_generation {
        println!(
            "                   rotation to generation {g} unfinished (finished at next open)"
        );
    }
    println!("tablespaces:       {}", info.tablespaces.len());
    for t in &info.tablespaces {
        print!(
            "  {:<20} {:>10} pages  key generation {}  under master generation {}",
            t.name, t.page_count, t.key_generation, t.master_generation
        );
        if let Some((g, done)) = t.rekey {
            print!(
                "  (rekey to generation {g}: {done}/{} pages done)",
                t.page_count
            );
        }
        println!();
    }
    println!(
        "(header fields are read without the KMS and are not authenticated; `verify` checks them)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: TdeCommand,
    }

    #[test]
    fn commands_parse_as_documented() {
        let cli =
            Cli::try_parse_from(["tde", "init", "d", "--key", "k", "--cipher", "sm4"]).unwrap();
        assert!(matches!(
            cli.cmd,
            TdeCommand::Init {
                cipher: Cipher::Sm4,
                page_size: 16384,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["tde", "dump", "d", "t", "-o", "out.bin"]).unwrap();
        assert!(matches!(cli.cmd, TdeCommand::Dump { out: Some(_), .. }));
        let cli = Cli::try_parse_from(["tde", "read", "d", "t", "--page", "3"]).unwrap();
        assert!(matches!(
            cli.cmd,
            TdeCommand::Read {
                page: 3,
                out: None,
                ..
            }
        ));
        let cli =
            Cli::try_parse_from(["tde", "write", "d", "t", "--page", "0", "-i", "f"]).unwrap();
        assert!(matches!(
            cli.cmd,
            TdeCommand::Write {
                page: 0,
                input: Some(_),
                ..
            }
        ));
        assert!(Cli::try_parse_from(["tde", "rotate-master", "d"]).is_ok());
        assert!(Cli::try_parse_from(["tde", "rekey", "d", "t"]).is_ok());
        assert!(
            Cli::try_parse_from(["tde", "init", "d"]).is_err(),
            "--key is required"
        );
        assert!(
            Cli::try_parse_from(["tde", "init", "d", "--key", "k", "--cipher", "des"]).is_err()
        );
    }
}
