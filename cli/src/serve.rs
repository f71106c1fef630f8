//! `tkms serve`: the mock KMS over HTTP (mock_hsm::server, docs/serve.md).

use std::net::SocketAddr;
use std::sync::Arc;

use mock_hsm::server::{CredentialSource, RootCredentials, serve_blocking, service_options};
use mock_hsm::{Hsm, HsmConfig};

use crate::args::{KmsArgs, ServeArgs};
use crate::backend;
use crate::error::{CliError, CliResult, Exit};

/// The variable that sets the server's log level.
const LOG_VARIABLE: &str = "TKMS_LOG";

pub(crate) fn serve(args: &ServeArgs, kms_args: &KmsArgs) -> CliResult<()> {
    init_log()?;
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        CliError::usage(format!("--listen {}: expected IP:PORT", args.listen))
            .with_hint("e.g. --listen 127.0.0.1:8573, or port 0 for a free port")
    })?;
    let data_dir = if args.in_memory {
        None
    } else {
        Some(backend::data_dir(kms_args)?)
    };
    let mut config = match &data_dir {
        Some(dir) => {
            backend::create_private_dir(dir).map_err(|e| {
                CliError::new(
                    Exit::Io,
                    format!("cannot create the data directory `{}`: {e}", dir.display()),
                )
            })?;
            HsmConfig::directory(dir)
        }
        None => HsmConfig::in_memory(),
    }
    .with_default_region(kms_args.region.clone())
    .with_regions(&args.regions)
    .map_err(CliError::usage)?;
    if args.test_controls {
        config = config.with_mock_clock();
    }
    if let Some(limit) = args.data_key_limit {
        config = config.with_data_key_limit(limit);
    }
    crate::sm4::note_refusal_for_server();
    let hsm = Hsm::open(config).map_err(|e| {
        CliError::new(
            Exit::KmsUnavailable,
            format!("cannot open the key store: {e}"),
        )
    })?;
    for seed in &args.seed {
        let report = hsm.apply_seed_file(seed).map_err(|e| {
            CliError::usage(format!(
                "cannot apply the seed file `{}`: {e}",
                seed.display()
            ))
            .with_hint("see docs/seed-format.md")
        })?;
        eprintln!(
            "seed {}: {} keys created, {} already present",
            seed.display(),
            report.created.len(),
            report.skipped.len()
        );
    }

    let (root, source) = RootCredentials::resolve(data_dir.as_deref()).map_err(|e| {
        CliError::new(
            Exit::Io,
            format!("cannot load or create the root credentials: {e}"),
        )
    })?;
    match &source {
        CredentialSource::Environment => {
            eprintln!(
                "root credentials: TENCENTCLOUD_SECRET_ID {} (from the environment)",
                root.secret_id
            )
        }
        CredentialSource::Stored(path) => {
            eprintln!(
                "root credentials: SecretId {} (SecretKey in {})",
                root.secret_id,
                path.display()
            )
        }
        CredentialSource::Generated(Some(path)) => eprintln!(
            "new root credentials: SecretId {} (SecretKey in {}, mode 0600)",
            root.secret_id,
            path.display()
        ),
        CredentialSource::Generated(None) => {
            // The generated key would exist nowhere but in this process, and tkms never prints
            // secrets: an in-memory server takes its credentials from the environment.
            return Err(CliError::usage("an in-memory server needs credentials from the environment")
                .with_hint("set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (clients use the same), or drop --in-memory"));
        }
    }

    let mut options = service_options(&hsm, &root, args.config.as_deref()).map_err(|e| {
        CliError::usage(format!("cannot start: {e}"))
            .with_hint("see docs/cam.md for the --config format")
    })?;
    options.listen = listen;
    options.region = kms_args.region.clone();
    options.test_controls = args.test_controls;
    options.check_clock_skew = !args.insecure_no_clock_skew_check;
    let limits = &mut options.limits;
    limits.header_timeout = args.header_timeout.unwrap_or(limits.header_timeout);
    limits.body_timeout = args.body_timeout.unwrap_or(limits.body_timeout);
    limits.idle_timeout = args.idle_timeout.unwrap_or(limits.idle_timeout);
    limits.max_connections = args
        .max_connections
        .map_or(limits.max_connections, |n| n as usize);
    serve_blocking(Arc::new(hsm), options).map_err(|e| {
        CliError::new(Exit::Io, format!("cannot serve on {listen}: {e}"))
            .with_hint("is another server using the port? try --listen 127.0.0.1:0")
    })
}

/// Sends the server's log (internal errors, failed maintenance, and with `debug` one line a
/// call) to stderr; `TKMS_LOG` picks the level, `warn` by default. An unknown level stops the
/// start rather than silently logging nothing.
fn init_log() -> CliResult<()> {
    use tracing_subscriber::filter::LevelFilter;
    let level = match std::env::var(LOG_VARIABLE) {
        Err(std::env::VarError::NotPresent) => LevelFilter::WARN,
        Ok(text) => text.parse::<LevelFilter>().map_err(|_| {
            CliError::usage(format!("{LOG_VARIABLE}={text:?} is not a log level"))
                .with_hint("use off, error, warn, info, debug or trace")
        })?,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(CliError::usage(format!(
                "{LOG_VARIABLE} is not valid UTF-8"
            )));
        }
    };
    // The Python console script runs this in a process that may serve twice: a subscriber
    // installed earlier stays.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    Ok(())
}
