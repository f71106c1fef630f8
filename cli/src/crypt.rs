//! `tkms encrypt` and `tkms decrypt`.

use std::io::{self, Cursor, IsTerminal, Read, Write};
use std::path::Path;

use kms_core::cache::DataKeyCache;
use kms_core::kms::KeyMetadata;
use kms_core::wrap::KeyWrapper;
use kms_core::{
    DecryptError, Decryptor, EncryptError, EncryptOptions, EncryptionContext, Encryptor,
    FormatError, Header, parse_header,
};
use zeroize::Zeroizing;

use indicatif::ProgressBar;

use crate::args::{DecryptArgs, EncryptArgs, KmsArgs, SuiteArg};
use crate::backend::{self, Kms, Recipient};
use crate::error::{CliError, CliResult, Exit};
use crate::io::{Output, Sink, Source, named_path, open_input, progress};
use crate::readahead::{CHUNK, read_ahead};

/// Most header bytes read before giving up on finding the header's end.
const MAX_HEADER_BYTES: usize = 16 << 20;
/// First read when looking for the header.
const FIRST_HEADER_READ: usize = 64 << 10;

fn context_of(pairs: &[(String, String)]) -> EncryptionContext {
    pairs.iter().cloned().collect()
}

pub(crate) fn encrypt(args: &EncryptArgs, kms_args: &KmsArgs) -> CliResult<()> {
    if args.inputs.len() > 1 || args.out_dir.is_some() {
        return crate::batch::encrypt_files(args, kms_args);
    }
    let input_path = named_path(args.inputs.first());
    let out_path = named_path(args.output.out.as_ref());
    if out_path.is_none() && io::stdout().is_terminal() {
        return Err(
            CliError::usage("refusing to write ciphertext to a terminal").with_hint(
                "write it to a file with -o FILE, or redirect: tkms encrypt FILE > FILE.tkms",
            ),
        );
    }
    let request = encrypt_request(args)?;
    let mut input = open_input(input_path)?;
    let sink = Sink::open(out_path, args.output.force)?;
    let bar = progress(input.len, "encrypting");
    let sink = encrypt_stream(
        request,
        kms_args,
        input.source(input_path),
        (sink, out_path),
        &bar,
    )?;
    bar.finish_and_clear();
    sink.commit()
}

/// `tkms encrypt`'s key options. Every local key is parsed before anything is contacted, so
/// a typo fails fast.
pub(crate) fn encrypt_request(args: &EncryptArgs) -> CliResult<EncryptRequest<'_>> {
    let recipients = args
        .recipients
        .iter()
        .map(|p| backend::recipient_from_pem(p))
        .collect::<CliResult<Vec<Recipient>>>()?;
    Ok(EncryptRequest {
        key: args.key.as_deref(),
        recipients,
        context: &args.context,
        suite: args.suite.map(SuiteArg::suite),
        frame_size: args.frame_size,
    })
}

/// `tkms decrypt`'s private keys (--identity).
pub(crate) fn identities(args: &DecryptArgs) -> CliResult<Vec<Box<dyn KeyWrapper>>> {
    args.identities
        .iter()
        .map(|p| backend::identity_from_pem(p))
        .collect()
}

/// The plaintext buffer: one batch ([`CHUNK`], so the Decryptor opens a whole batch straight into
/// it in one parallel pass), or less for a smaller input (a 1 KiB message from the library should
/// not allocate and zeroize 2 MiB).
fn read_buffer(len: Option<u64>) -> Zeroizing<Vec<u8>> {
    let size = len.map_or(CHUNK, |len| {
        usize::try_from(len).map_or(CHUNK, |len| len.saturating_add(1).min(CHUNK))
    });
    Zeroizing::new(vec![0u8; size])
}

/// What to encrypt to and how: `tkms encrypt`'s options, already parsed.
pub(crate) struct EncryptRequest<'a> {
    pub(crate) key: Option<&'a str>,
    pub(crate) recipients: Vec<Recipient>,
    pub(crate) context: &'a [(String, String)],
    pub(crate) suite: Option<kms_core::Suite>,
    pub(crate) frame_size: u32,
}

/// Encrypts everything `input` yields into `out` and returns it (not yet committed). The
/// paths name the ends in messages (`None`: standard input/output).
pub(crate) fn encrypt_stream<W: Output>(
    request: EncryptRequest<'_>,
    kms_args: &KmsArgs,
    input: Source<'_>,
    out: (W, Option<&Path>),
    bar: &ProgressBar,
) -> CliResult<W> {
    Sealer::new(request, kms_args)?.seal(None, input, out, bar)
}

/// The wrapping keys and options of one `tkms encrypt`, resolved once for all its files.
pub(crate) struct Sealer {
    wrappers: Vec<Box<dyn KeyWrapper>>,
    options: EncryptOptions,
    /// How the KMS key was named, for messages.
    key_name: Option<String>,
}

impl Sealer {
    /// Resolves the KMS key (refusing one that cannot encrypt) and the recipients.
    pub(crate) fn new(request: EncryptRequest<'_>, kms_args: &KmsArgs) -> CliResult<Self> {
        let EncryptRequest {
            key,
            recipients,
            context,
            suite,
            frame_size,
        } = request;
        // The KMS is used when a key is named, or when there is nothing else to encrypt to.
        let use_kms = key.is_some() || recipients.is_empty();
        let mut kms_key: Option<(Kms, KeyMetadata)> = None;
        if use_kms {
            let kms = Kms::open(kms_args)?;
            let summary = match key {
                Some(name) => kms.resolve(name)?,
                None => kms.default_key()?,
            };
            refuse_unusable_for_encryption(&summary, key)?;
            kms_key = Some((kms, summary));
        }
        let key_name = key.map(str::to_owned).or_else(|| {
            kms_key.as_ref().map(|(_, k)| {
                if k.alias.is_empty() {
                    k.key_id.clone()
                } else {
                    k.alias.clone()
                }
            })
        });

        let mut wrappers: Vec<Box<dyn KeyWrapper>> = Vec::new();
        if let Some((kms, key)) = &kms_key {
            wrappers.push(backend::kms_wrapper(
                kms,
                key,
                key_name.as_deref().unwrap_or(&key.key_id),
            )?);
        }
        let suite = match suite {
            Some(s) => s,
            None => backend::default_suite(kms_key.as_ref().map(|(_, k)| k), &recipients),
        };
        wrappers.extend(recipients.into_iter().map(|r| r.wrapper));
        let options = EncryptOptions {
            suite,
            context: context_of(context),
            frame_size,
        };
        Ok(Self {
            wrappers,
            options,
            key_name,
        })
    }

    /// Encrypts `input` into `out` and returns it (not yet committed). With `cache`, and an
    /// input of known length, the data key comes from the cache (docs/caching.md). A regular
    /// file into an output file of this run is sealed at offsets on every core
    /// ([`kms_core::encrypt_file`]); anything else streams.
    pub(crate) fn seal<W: Output>(
        &self,
        cache: Option<&DataKeyCache>,
        input: Source<'_>,
        (out, out_path): (W, Option<&Path>),
        bar: &ProgressBar,
    ) -> CliResult<W> {
        let wrapper_refs: Vec<&dyn KeyWrapper> = self.wrappers.iter().map(|w| w.as_ref()).collect();
        let key_name = self.key_name.as_deref();
        if let (Some(file), Some(out_file)) = (input.file, out.owned_file()) {
            let progress = |bytes| bar.inc(bytes);
            match cache {
                Some(cache) => cache.encrypt_file(
                    file,
                    out_file,
                    &wrapper_refs,
                    &self.options,
                    Some(&progress),
                ),
                None => kms_core::encrypt_file(
                    file,
                    out_file,
                    &wrapper_refs,
                    &self.options,
                    Some(&progress),
                ),
            }
            .map_err(|e| match e {
                EncryptError::Read(e) => CliError::read(input.path, &e),
                e => CliError::encrypt(e, key_name, out_path),
            })?;
            return Ok(out);
        }
        let mut encryptor = match (cache, input.len) {
            (Some(cache), Some(len)) => cache.encryptor(out, &wrapper_refs, &self.options, len),
            _ => Encryptor::new(out, &wrapper_refs, &self.options),
        }
        .map_err(|e| CliError::encrypt(e, key_name, out_path))?;
        let input_path = input.path;
        read_ahead(input.reader, input.len, |chunks| {
            while let Some(chunk) = chunks
                .next_chunk()
                .map_err(|e| CliError::read(input_path, &e))?
            {
                encryptor
                    .write_all(chunk)
                    .map_err(|e| CliError::write(out_path, &e))?;
                bar.inc(chunk.len() as u64);
            }
            Ok::<_, CliError>(())
        })?;
        encryptor
            .finish()
            .map_err(|e| CliError::encrypt(e, key_name, out_path))
    }
}

/// Fails early, with the fix, when DescribeKey says the key cannot encrypt (the KMS would
/// refuse the same way, but only after the output was opened).
fn refuse_unusable_for_encryption(key: &KeyMetadata, named: Option<&str>) -> CliResult<()> {
    let code = match key.key_state.as_str() {
        "Disabled" => "ResourceUnavailable.CmkDisabled",
        "PendingDelete" => "ResourceUnavailable.CmkPendingDelete",
        "Archived" => "ResourceUnavailable.CmkArchived",
        "PendingImport" => "ResourceUnavailable.CmkStateNotSupport",
        _ => return Ok(()),
    };
    let err = kms_core::kms::KmsError::new(code, format!("the key is {}", key.key_state));
    Err(CliError::kms(&err, Some(named.unwrap_or(&key.key_id))))
}

/// Reads from `reader` until the envelope header parses (headers are small, but their size is
/// only known once parsed). Returns the header and every byte read so far.
pub(crate) fn read_header(
    reader: &mut dyn Read,
    path: Option<&Path>,
) -> CliResult<(Header, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut want = FIRST_HEADER_READ;
    loop {
        let eof = fill(reader, &mut buf, want).map_err(|e| CliError::read(path, &e))?;
        match parse_header(&buf) {
            Ok((header, _)) => return Ok((header, buf)),
            // Only a header cut short can become valid with more bytes.
            Err(FormatError::MalformedHeader(_)) if !eof && buf.len() < MAX_HEADER_BYTES => {
                want = buf.len() * 2
            }
            Err(e) => return Err(CliError::format(path, &e)),
        }
    }
}

/// Reads until `buf` holds `want` bytes or the input ends; returns true at end of input.
fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let start = buf.len();
    buf.resize(want.max(start), 0);
    let mut filled = start;
    let result = loop {
        if filled == buf.len() {
            break Ok(false);
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break Ok(true),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(filled);
    result
}

pub(crate) fn decrypt(args: &DecryptArgs, kms_args: &KmsArgs) -> CliResult<()> {
    if args.inputs.len() > 1 || args.out_dir.is_some() {
        return crate::batch::decrypt_files(args, kms_args);
    }
    let input_path = named_path(args.inputs.first());
    let out_path = named_path(args.output.out.as_ref());
    let identities = identities(args)?;
    let mut input = open_input(input_path)?;
    let sink = Sink::open(out_path, args.output.force)?;
    let bar = progress(input.len, "decrypting");
    let sink = decrypt_stream(
        identities,
        &args.context,
        kms_args,
        input.source(input_path),
        (sink, out_path),
        &bar,
    )?;
    bar.finish_and_clear();
    sink.commit()
}

/// Decrypts everything `input` yields into `out` and returns it (not yet committed): with
/// `identities` offline, else through the KMS `kms_args` names. Plaintext reaches `out` only
/// frame by frame, each after it authenticated.
pub(crate) fn decrypt_stream<W: Output>(
    identities: Vec<Box<dyn KeyWrapper>>,
    context: &[(String, String)],
    kms_args: &KmsArgs,
    input: Source<'_>,
    out: (W, Option<&Path>),
    bar: &ProgressBar,
) -> CliResult<W> {
    Opener::new(identities, context, kms_args).open(None, input, out, bar)
}

/// The keys and context of one `tkms decrypt`, for all its files. The KMS is opened at the
/// first file that needs it.
pub(crate) struct Opener<'a> {
    identities: Vec<Box<dyn KeyWrapper>>,
    context: EncryptionContext,
    kms_args: &'a KmsArgs,
    kms: Option<Vec<Box<dyn KeyWrapper>>>,
}

impl<'a> Opener<'a> {
    pub(crate) fn new(
        identities: Vec<Box<dyn KeyWrapper>>,
        context: &[(String, String)],
        kms_args: &'a KmsArgs,
    ) -> Self {
        Self {
            identities,
            context: context_of(context),
            kms_args,
            kms: None,
        }
    }

    /// Decrypts `input` into `out` and returns it (not yet committed); with `cache`, a data
    /// key unwrapped for an earlier file is reused (docs/caching.md). A regular file into an
    /// output file of this run is opened at offsets on every core ([`kms_core::decrypt_file`]);
    /// anything else streams.
    pub(crate) fn open<W: Output>(
        &mut self,
        cache: Option<&DataKeyCache>,
        input: Source<'_>,
        (mut out, out_path): (W, Option<&Path>),
        bar: &ProgressBar,
    ) -> CliResult<W> {
        let input_path = input.path;
        let (header, prefix) = read_header(input.reader, input_path)?;
        let kms_ids = backend::kms_key_ids(&header);
        let key_name = kms_ids.first().map(|(id, _)| id.clone());

        // --identity means offline: the KMS is not contacted.
        let unwrappers = if self.identities.is_empty() {
            if kms_ids.is_empty() {
                let wrapped_for: Vec<String> = header
                    .wrapped_keys
                    .iter()
                    .map(|w| w.key_ref.to_string())
                    .collect();
                return Err(CliError::new(
                    Exit::Integrity,
                    format!(
                        "{} is wrapped only for public keys ({})",
                        crate::error::describe_input(input_path),
                        wrapped_for.join(", ")
                    ),
                )
                .with_hint("pass the matching private key with --identity KEY.pem"));
            }
            match &mut self.kms {
                Some(kms) => &*kms,
                None => &*self
                    .kms
                    .insert(vec![backend::kms_unwrapper(&Kms::open(self.kms_args)?)]),
            }
        } else {
            &self.identities
        };
        let unwrapper_refs: Vec<&dyn KeyWrapper> = unwrappers.iter().map(|w| w.as_ref()).collect();
        let describe = |e| CliError::decrypt(e, input_path, key_name.as_deref());

        if let (Some(file), Some(out_file)) = (input.file, out.owned_file()) {
            let progress = |bytes| bar.inc(bytes);
            match cache {
                Some(cache) => cache.decrypt_file(
                    file,
                    out_file,
                    &unwrapper_refs,
                    &self.context,
                    Some(&progress),
                ),
                None => kms_core::decrypt_file(
                    file,
                    out_file,
                    &unwrapper_refs,
                    &self.context,
                    Some(&progress),
                ),
            }
            .map_err(|e| match e {
                DecryptError::Write(e) => CliError::write(out_path, &e),
                e => describe(e),
            })?;
            return Ok(out);
        }

        // No read-ahead thread here: the Decryptor reads straight into its batch and opens it
        // into `buf`, and a reading thread would add a copy of every byte for an overlap that
        // two cores do not give (docs/performance.md, "tkms CLI at the memory-copy limit").
        let source = Cursor::new(prefix).chain(input.reader);
        let mut decryptor = match cache {
            Some(cache) => cache.decryptor(source, &unwrapper_refs, &self.context),
            None => Decryptor::new(source, &unwrapper_refs, &self.context),
        }
        .map_err(describe)?;
        let mut buf = read_buffer(input.len);
        loop {
            let n = match decryptor.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(describe(into_decrypt_error(e))),
            };
            out.write_all(&buf[..n])
                .map_err(|e| CliError::write(out_path, &e))?;
            bar.inc(n as u64);
        }
        Ok(out)
    }
}

/// Recovers the [`DecryptError`] that the Decryptor's `Read` impl boxed into an `io::Error`.
fn into_decrypt_error(err: io::Error) -> DecryptError {
    if err
        .get_ref()
        .is_some_and(|inner| inner.is::<DecryptError>())
    {
        let inner = err
            .into_inner()
            .expect("checked above that there is an inner error");
        match inner.downcast::<DecryptError>() {
            Ok(decrypt) => *decrypt,
            Err(other) => DecryptError::Io(io::Error::other(other)),
        }
    } else if err.get_ref().is_some_and(|inner| inner.is::<FormatError>()) {
        let inner = err
            .into_inner()
            .expect("checked above that there is an inner error");
        match inner.downcast::<FormatError>() {
            Ok(format) => DecryptError::Format(*format),
            Err(other) => DecryptError::Io(io::Error::other(other)),
        }
    } else {
        DecryptError::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypt_errors_survive_the_io_round_trip() {
        let io: io::Error = DecryptError::DecryptionFailed.into();
        assert!(matches!(
            into_decrypt_error(io),
            DecryptError::DecryptionFailed
        ));
        let io: io::Error = DecryptError::ContextMismatch.into();
        assert!(matches!(
            into_decrypt_error(io),
            DecryptError::ContextMismatch
        ));
        let io: io::Error = DecryptError::Format(FormatError::NotEnvelope).into();
        assert!(matches!(
            into_decrypt_error(io),
            DecryptError::Format(FormatError::NotEnvelope)
        ));
        let io = io::Error::new(io::ErrorKind::UnexpectedEof, "eof");
        assert!(matches!(into_decrypt_error(io), DecryptError::Io(_)));
    }

    #[test]
    fn fill_reads_until_want_or_eof() {
        let mut src: &[u8] = b"hello world";
        let mut buf = Vec::new();
        assert!(!fill(&mut src, &mut buf, 5).unwrap());
        assert_eq!(buf, b"hello");
        assert!(fill(&mut src, &mut buf, 100).unwrap());
        assert_eq!(buf, b"hello world");
    }
}
