//! The envelope operations for library callers (the Python package, docs/python.md): the same
//! code as `tkms encrypt`, `decrypt` and `inspect`, so key resolution, the embedded store,
//! `--endpoint` with TENCENTCLOUD_* credentials, recipients and identities, and the
//! all-or-nothing rule for output files stay one definition.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;
use indicatif::ProgressBar;
use kms_core::Suite;
use kms_core::http::Credentials;
use kms_core::wrap::KeyWrapper;
use zeroize::Zeroizing;

use crate::args::KmsArgs;
use crate::backend::{self, Recipient};
use crate::crypt::{self, EncryptRequest};
use crate::error::{CliError, CliResult};
use crate::io::{Sink, Source, open_input};

/// Which KMS to use, as the global options of the command line say it. Unset fields fall back
/// exactly as the CLI's do: TKMS_ENDPOINT, TKMS_DATA_DIR, TENCENTCLOUD_REGION, and the
/// TENCENTCLOUD_* credentials.
#[derive(Debug, Default, Clone)]
pub struct KmsTarget {
    /// The KMS at this URL instead of the embedded store (`--endpoint`).
    pub endpoint: Option<String>,
    /// Credentials for `endpoint` (else the environment's).
    pub credentials: Option<Credentials>,
    /// The embedded store's directory (`--data-dir`).
    pub data_dir: Option<PathBuf>,
}

/// A public or private key: a PEM/DER file, or its bytes.
#[derive(Debug)]
pub enum KeySource {
    /// A key file (`--recipient FILE`, `--identity FILE`).
    Path(PathBuf),
    /// The key itself; zeroized when dropped.
    Bytes(Zeroizing<Vec<u8>>),
}

/// What `tkms encrypt` is told besides its input and output.
#[derive(Debug, Default)]
pub struct EncryptOptions {
    /// A KMS KeyId or alias (`--key`).
    pub key: Option<String>,
    /// Encryption context pairs (`--context`).
    pub context: Vec<(String, String)>,
    /// The suite (`--suite`); `None`: the CLI's default for the keys.
    pub suite: Option<Suite>,
    /// Public keys that also get the data key (`--recipient`).
    pub recipients: Vec<KeySource>,
}

/// What `tkms decrypt` is told besides its input and output.
#[derive(Debug, Default)]
pub struct DecryptOptions {
    /// Encryption context pairs (`--context`).
    pub context: Vec<(String, String)>,
    /// Private keys that open the file offline (`--identity`).
    pub identities: Vec<KeySource>,
}

/// Encrypts `data` into a whole envelope.
pub fn encrypt(data: &[u8], options: EncryptOptions, kms: &KmsTarget) -> Result<Vec<u8>, CliError> {
    let (request, kms_args) = prepare_encrypt(&options, kms)?;
    crypt::encrypt_stream(
        request,
        &kms_args,
        Source {
            reader: &mut &data[..],
            path: None,
            len: Some(data.len() as u64),
            file: None,
        },
        (Vec::new(), None),
        &ProgressBar::hidden(),
    )
}

/// Encrypts the file `src` into `dst` as `tkms encrypt SRC -o DST` does: `dst` appears only
/// once complete, and an existing `dst` is replaced only with `force`.
pub fn encrypt_file(
    src: &Path,
    dst: &Path,
    force: bool,
    options: EncryptOptions,
    kms: &KmsTarget,
) -> Result<(), CliError> {
    let (request, kms_args) = prepare_encrypt(&options, kms)?;
    file_to_file(src, dst, force, |source, sink| {
        crypt::encrypt_stream(request, &kms_args, source, sink, &ProgressBar::hidden())
    })
}

/// Decrypts a whole envelope; nothing is returned unless every frame authenticated.
pub fn decrypt(
    data: &[u8],
    options: DecryptOptions,
    kms: &KmsTarget,
) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let (identities, kms_args) = prepare_decrypt(&options, kms)?;
    // The plaintext is shorter than the envelope: reserving that much up front means the
    // buffer never reallocates and leaves no unzeroized copy behind.
    let mut plaintext = Zeroizing::new(Vec::with_capacity(data.len()));
    crypt::decrypt_stream(
        identities,
        &options.context,
        &kms_args,
        Source {
            reader: &mut &data[..],
            path: None,
            len: Some(data.len() as u64),
            file: None,
        },
        (&mut *plaintext, None),
        &ProgressBar::hidden(),
    )?;
    Ok(plaintext)
}

/// Decrypts the file `src` into `dst` as `tkms decrypt SRC -o DST` does: all or nothing.
pub fn decrypt_file(
    src: &Path,
    dst: &Path,
    force: bool,
    options: DecryptOptions,
    kms: &KmsTarget,
) -> Result<(), CliError> {
    let (identities, kms_args) = prepare_decrypt(&options, kms)?;
    file_to_file(src, dst, force, |source, sink| {
        crypt::decrypt_stream(
            identities,
            &options.context,
            &kms_args,
            source,
            sink,
            &ProgressBar::hidden(),
        )
    })
}

/// Streams the file `src` through `stream` into a temporary file that replaces `dst` only
/// once `stream` succeeded (the CLI's `-o` rule); an existing `dst` needs `force`.
fn file_to_file(
    src: &Path,
    dst: &Path,
    force: bool,
    stream: impl FnOnce(Source<'_>, (Sink, Option<&Path>)) -> CliResult<Sink>,
) -> CliResult<()> {
    let mut input = open_input(Some(src))?;
    let sink = Sink::open(Some(dst), force)?;
    stream(input.source(Some(src)), (sink, Some(dst)))?.commit()
}

/// The header of an envelope, as `tkms inspect --output json` prints it.
pub fn inspect(data: &[u8]) -> Result<serde_json::Value, CliError> {
    let (header, _) = crypt::read_header(&mut &data[..], None)?;
    Ok(crate::inspect::to_json(&header))
}

/// [`inspect`] of a file (only its header is read).
pub fn inspect_file(path: &Path) -> Result<serde_json::Value, CliError> {
    let mut input = open_input(Some(path))?;
    let (header, _) = crypt::read_header(&mut input.reader, Some(path))?;
    Ok(crate::inspect::to_json(&header))
}

/// The command line's global options with nothing but `--endpoint` and `--data-dir`.
#[derive(Parser)]
#[command(name = "tkms")]
struct GlobalOptions {
    #[command(flatten)]
    kms: KmsArgs,
}

/// The [`KmsArgs`] the CLI would have for `kms`, environment defaults included.
fn kms_args(kms: &KmsTarget) -> CliResult<KmsArgs> {
    let mut argv = vec![OsString::from("tkms")];
    let mut option = |name: &str, value: &std::ffi::OsStr| {
        let mut arg = OsString::from(name);
        arg.push(value);
        argv.push(arg);
    };
    if let Some(endpoint) = &kms.endpoint {
        option("--endpoint=", endpoint.as_ref());
    }
    if let Some(dir) = &kms.data_dir {
        option("--data-dir=", dir.as_os_str());
    }
    let mut args = GlobalOptions::try_parse_from(argv)
        .map_err(|e| CliError::usage(e.to_string()))?
        .kms;
    args.credentials = kms.credentials.clone();
    Ok(args)
}

fn prepare_encrypt<'a>(
    options: &'a EncryptOptions,
    kms: &KmsTarget,
) -> CliResult<(EncryptRequest<'a>, KmsArgs)> {
    let recipients = options
        .recipients
        .iter()
        .map(|source| match source {
            KeySource::Path(path) => backend::recipient_from_pem(path),
            KeySource::Bytes(pem) => backend::recipient_from_bytes(pem, "the recipient key"),
        })
        .collect::<CliResult<Vec<Recipient>>>()?;
    let request = EncryptRequest {
        key: options.key.as_deref(),
        recipients,
        context: &options.context,
        suite: options.suite,
        frame_size: kms_core::DEFAULT_FRAME_SIZE,
    };
    Ok((request, kms_args(kms)?))
}

fn prepare_decrypt(
    options: &DecryptOptions,
    kms: &KmsTarget,
) -> CliResult<(Vec<Box<dyn KeyWrapper>>, KmsArgs)> {
    let identities = options
        .identities
        .iter()
        .map(|source| match source {
            KeySource::Path(path) => backend::identity_from_pem(path),
            KeySource::Bytes(pem) => backend::identity_from_bytes(pem, "the identity key"),
        })
        .collect::<CliResult<Vec<_>>>()?;
    Ok((identities, kms_args(kms)?))
}
