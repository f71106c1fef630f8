//! CLI errors: what went wrong, what to try next, and the documented exit code.
//!
//! Every failure the user can cause maps to one [`Exit`] category; `tkms --help` and
//! docs/cli.md list them. Messages never contain key material or plaintext.

use std::fmt;
use std::path::Path;

use kms_core::http::TLS_CERTIFICATE_REFUSED;
use kms_core::kms::{CLIENT_NETWORK_ERROR, KeyState, KmsError, StateRefusal};
use kms_core::tde::TdeError;
use kms_core::{DecryptError, EncryptError, FormatError, WrapError};

/// Documented exit codes (`tkms --help`, docs/cli.md). Stable: scripts branch on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: anything not covered below.
    General = 1,
    /// 2: bad command line (clap uses 2 too), or a refusal that a flag overrides
    /// (ciphertext to a terminal, an existing output file without `--force`).
    Usage = 2,
    /// 3: reading the input or writing the output failed.
    Io = 3,
    /// 4: the input is not a tkms file (or its header is malformed or from a newer version).
    NotTkms = 4,
    /// 5: authentication failed: tampered or truncated file, wrong identity, wrong context.
    Integrity = 5,
    /// 6: the KMS refused: unknown key, disabled key, pending deletion, no permission.
    KmsRefused = 6,
    /// 7: the KMS could not be reached, or failed internally.
    KmsUnavailable = 7,
}

/// The text `tkms --help` shows for exit codes (kept beside the enum so they cannot drift).
pub(crate) const EXIT_CODES_HELP: &str = "\
EXIT CODES:
  0  success
  1  other error
  2  usage error (bad arguments; ciphertext to a terminal; OUT exists without --force)
  3  I/O error (input unreadable, output unwritable)
  4  not a tkms file (bad magic, malformed header, unsupported version)
  5  authentication failed (tampered or truncated file, wrong identity, wrong --context)
  6  the KMS refused (unknown key, disabled key, pending deletion, no permission)
  7  the KMS is unreachable or failed";

/// A user-facing error: what went wrong, what to try next, and the documented exit code.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    message: String,
    hint: Option<String>,
    /// The Tencent error code and RequestId, when the KMS answered with an error.
    kms: Option<KmsRefusal>,
}

/// A KMS error answer, as the caller may branch on it.
#[derive(Debug, Clone)]
struct KmsRefusal {
    code: String,
    request_id: Option<String>,
}

pub(crate) type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
            kms: None,
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub(crate) fn general(message: impl Into<String>) -> Self {
        Self::new(Exit::General, message)
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[cfg(test)]
    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }

    /// The documented exit code (`tkms --help`, docs/cli.md).
    pub fn exit_code(&self) -> u8 {
        self.exit as u8
    }

    /// What went wrong (no secrets).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What to try next, when there is advice.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The Tencent error code, when the KMS answered with an error.
    pub fn kms_code(&self) -> Option<&str> {
        self.kms.as_ref().map(|k| k.code.as_str())
    }

    /// The KMS RequestId of that error answer, when it had one.
    pub fn request_id(&self) -> Option<&str> {
        self.kms.as_ref().and_then(|k| k.request_id.as_deref())
    }

    /// Reading `path` (or standard input) failed.
    pub(crate) fn read(path: Option<&Path>, err: &std::io::Error) -> Self {
        Self::new(
            Exit::Io,
            format!("cannot read {}: {}", describe_input(path), io_reason(err)),
        )
    }

    /// Writing `path` (or standard output) failed.
    pub(crate) fn write(path: Option<&Path>, err: &std::io::Error) -> Self {
        let what = path.map_or_else(
            || "standard output".to_owned(),
            |p| format!("`{}`", p.display()),
        );
        Self::new(Exit::Io, format!("cannot write {what}: {}", io_reason(err)))
    }

    /// A KMS error, explained for the key it concerns (`key` as the user named it, when known).
    pub(crate) fn kms(err: &KmsError, key: Option<&str>) -> Self {
        let mut explained = explain_kms(err, key);
        if err.code != CLIENT_NETWORK_ERROR {
            explained.kms = Some(KmsRefusal {
                code: err.code.clone(),
                request_id: err.request_id.clone(),
            });
        }
        explained
    }

    /// A format error on `path`'s header.
    pub(crate) fn format(path: Option<&Path>, err: &FormatError) -> Self {
        let input = describe_input(path);
        match err {
            FormatError::NotEnvelope => {
                Self::new(Exit::NotTkms, format!("{input} is not a tkms file")).with_hint(
                    "encrypt it first with `tkms encrypt`, or check that you named the right file",
                )
            }
            FormatError::UnknownVersion(_)
            | FormatError::UnknownSuite(_)
            | FormatError::UnknownWrapMethod(_) => {
                Self::new(Exit::NotTkms, format!("{input}: {err}"))
                    .with_hint("it was probably written by a newer tkms: upgrade tkms to read it")
            }
            FormatError::MalformedKey(_) => Self::new(Exit::Usage, format!("{err}")),
            _ => Self::new(
                Exit::NotTkms,
                format!("{input} is not a readable tkms file: {err}"),
            )
            .with_hint("the file is damaged or truncated in its header"),
        }
    }

    /// An encryption failure.
    pub(crate) fn encrypt(err: EncryptError, key: Option<&str>, out: Option<&Path>) -> Self {
        match err {
            EncryptError::NoRecipients => Self::usage("nothing to encrypt to")
                .with_hint("name a KMS key with --key, or a public key with --recipient"),
            EncryptError::Wrap(wrap) => Self::wrap(wrap, key),
            EncryptError::Format(f) => Self::usage(format!("cannot encode the envelope: {f}"))
                .with_hint("use fewer or shorter --context pairs"),
            EncryptError::Io(io) => Self::write(out, &io),
            other => Self::general(format!("encryption failed: {other}")),
        }
    }

    /// A decryption failure.
    pub(crate) fn decrypt(err: DecryptError, input: Option<&Path>, key: Option<&str>) -> Self {
        match err {
            DecryptError::Format(f) => Self::format(input, &f),
            DecryptError::NoMatchingKey(wrapped_for) => Self::new(
                Exit::Integrity,
                format!("none of the given keys can open {}: it is wrapped for {wrapped_for}", describe_input(input)),
            )
            .with_hint("pass the matching private key with --identity, or decrypt without --identity through the KMS"),
            DecryptError::ContextMismatch => Self::new(
                Exit::Integrity,
                format!("the encryption context does not match the one {} was sealed with", describe_input(input)),
            )
            .with_hint("pass exactly the --context pairs used to encrypt (see the keys with `tkms inspect`)"),
            DecryptError::Kms(kms) => Self::kms_on_decrypt(&kms, key),
            DecryptError::DecryptionFailed => Self::new(
                Exit::Integrity,
                format!("decryption failed: {} is corrupt, truncated, tampered with, or not for this key", describe_input(input)),
            ),
            DecryptError::Io(io) => Self::read(input, &io),
            other => Self::general(format!("decryption failed: {other}")),
        }
    }

    fn kms_on_decrypt(err: &KmsError, key: Option<&str>) -> Self {
        // A KMS that cannot open the wrapped key (bad blob, other context) is an integrity
        // failure from the user's point of view, not a refusal.
        if err
            .code
            .starts_with("InvalidParameterValue.InvalidCiphertext")
            || err.code == "FailedOperation.DecryptError"
        {
            return Self::new(
                Exit::Integrity,
                "decryption failed: the KMS could not open the data key (wrong --context, or a damaged file)",
            )
            .with_hint("pass exactly the --context pairs used to encrypt");
        }
        Self::kms(err, key)
    }

    /// A key-wrapping failure.
    pub(crate) fn wrap(err: WrapError, key: Option<&str>) -> Self {
        match err {
            WrapError::Kms(kms) => Self::kms(&kms, key),
            WrapError::Format(f) => Self::usage(format!("{f}"))
                .with_hint("keys are PEM files: RSA-2048 or SM2 (`-----BEGIN PUBLIC KEY-----` / `PRIVATE KEY`)"),
            WrapError::Crypto => Self::new(Exit::Integrity, "key unwrap failed: wrong identity or damaged file"),
            other => Self::general(format!("{other}")),
        }
    }

    /// A TDE failure; `dir` is the instance directory, named in the hint when known.
    pub(crate) fn tde(err: TdeError, dir: Option<&Path>) -> Self {
        let exit = match &err {
            TdeError::Kms(k) if k.code == CLIENT_NETWORK_ERROR => Exit::KmsUnavailable,
            TdeError::Kms(_) => Exit::KmsRefused,
            TdeError::Io { .. } => Exit::Io,
            _ => Exit::General,
        };
        let hint = match &err {
            TdeError::Kms(k) if k.is_key_state_refusal() => Some(format!(
                "the CMK cannot unwrap the master key; check it with `tkms tde status {}` and \
                 enable it (EnableKey, or CancelKeyDeletion then EnableKey)",
                dir.map_or_else(|| "DIR".into(), |d| d.display().to_string())
            )),
            TdeError::Locked(_) => {
                Some("another tkms process has this instance open; wait for it to finish".into())
            }
            TdeError::NotFound(_) => Some(
                "check the directory and table name (`tkms tde status DIR` lists tables)".into(),
            ),
            _ => None,
        };
        let error = Self::new(exit, err.to_string());
        match hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }

    /// Prints the error (and hint) to standard error.
    pub(crate) fn report(&self) {
        eprintln!("error: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
    }
}

impl From<TdeError> for CliError {
    fn from(err: TdeError) -> Self {
        Self::tde(err, None)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) fn describe_input(path: Option<&Path>) -> String {
    path.map_or_else(
        || "standard input".to_owned(),
        |p| format!("`{}`", p.display()),
    )
}

/// The OS reason without Rust's "(os error N)" suffix.
fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

fn explain_kms(err: &KmsError, key: Option<&str>) -> CliError {
    let name = key.unwrap_or("the key");
    let request = err
        .request_id
        .as_deref()
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default();
    let refused = |message: String| CliError::new(Exit::KmsRefused, message);
    if let Some(refusal) = StateRefusal::from_code(&err.code) {
        return explain_state_refusal(refusal, err, name);
    }
    match err.code.as_str() {
        "ResourceUnavailable.CmkNotFound" => refused(format!("key {name} does not exist in this KMS{request}"))
            .with_hint("list the keys with `tkms key list`; check --endpoint/--data-dir and the region"),
        "ResourceUnavailable.CmkShouldBeDisabled" => refused(format!("key {name} must be disabled first"))
            .with_hint(format!("disable it with `tkms key disable {name}`")),
        "FailedOperation.CmkUsedByCloudProduct" => refused(format!("key {name} is in use by a cloud product{request}"))
            .with_hint("a TDE instance holds it: release it with `tkms tde unbind DIR` first"),
        "InvalidParameterValue.InvalidKeyId" => refused(format!("`{name}` is not a valid key id"))
            .with_hint("key ids look like 23e80852-1e38-11e9-b129-5cb9019b4b01; aliases work too"),
        "InvalidParameterValue.AliasAlreadyExists" => refused(format!("the alias is already taken{request}"))
            .with_hint("choose another alias; see the existing ones with `tkms key list`"),
        code if code == CLIENT_NETWORK_ERROR && err.message.starts_with(TLS_CERTIFICATE_REFUSED) => {
            CliError::new(Exit::KmsUnavailable, format!("cannot reach the KMS: {}", err.message))
                .with_hint("for a private CA, point SSL_CERT_FILE at its PEM certificate (or SSL_CERT_DIR at a directory of them); make --endpoint name the host the certificate was issued for; renew an expired certificate (docs/cli.md)")
        }
        code if code == CLIENT_NETWORK_ERROR => CliError::new(Exit::KmsUnavailable, format!("cannot reach the KMS: {}", err.message))
            .with_hint("check --endpoint (is `tkms serve` running?) and your network"),
        code if code.starts_with("InternalError") || code.starts_with("RequestLimitExceeded") => {
            CliError::new(Exit::KmsUnavailable, format!("the KMS failed: {err}{request}")).with_hint("try again later")
        }
        _ if err.is_auth_failure() => refused(format!("the KMS rejected the credentials: {err}{request}"))
            .with_hint("check TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_TOKEN) and the region"),
        _ if err.is_key_state_refusal() => refused(format!("key {name} cannot be used: {err}{request}"))
            .with_hint(format!("see its state with `tkms key describe {name}`")),
        _ => refused(format!("the KMS refused: {err}{request}")),
    }
}

/// A refusal because of the key's state (kms-core's one table of them).
fn explain_state_refusal(refusal: StateRefusal, err: &KmsError, name: &str) -> CliError {
    let pending_delete = || {
        CliError::new(
            Exit::KmsRefused,
            format!("key {name} is scheduled for deletion"),
        )
        .with_hint(format!(
            "cancel with `tkms key cancel-deletion {name}`, then `tkms key enable {name}`"
        ))
    };
    match refusal {
        StateRefusal::Disabled => CliError::new(
            Exit::KmsRefused,
            format!("key {name} is Disabled in the KMS"),
        )
        .with_hint(format!("enable it with `tkms key enable {name}`")),
        StateRefusal::Archived => CliError::new(
            Exit::KmsRefused,
            format!("key {name} is Archived: it can decrypt but not encrypt"),
        )
        .with_hint(format!(
            "restore it with `tkms key archive --cancel {name}`"
        )),
        StateRefusal::PendingDelete => pending_delete(),
        StateRefusal::NotSupported if err.message.contains(KeyState::PendingDelete.as_str()) => {
            pending_delete()
        }
        StateRefusal::NotSupported => CliError::new(
            Exit::KmsRefused,
            format!(
                "key {name} is not in a state that allows this: {}",
                err.message
            ),
        )
        .with_hint(format!("see its state with `tkms key describe {name}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_key_names_the_fix() {
        let err = CliError::kms(
            &KmsError::new("ResourceUnavailable.CmkDisabled", "disabled"),
            Some("abc"),
        );
        assert_eq!(err.exit(), Exit::KmsRefused);
        assert_eq!(err.message, "key abc is Disabled in the KMS");
        assert_eq!(
            err.hint.as_deref(),
            Some("enable it with `tkms key enable abc`")
        );
    }

    #[test]
    fn network_errors_are_unavailable_not_refused() {
        let err = CliError::kms(
            &KmsError::new(CLIENT_NETWORK_ERROR, "connection refused"),
            None,
        );
        assert_eq!(err.exit_code(), 7);
        assert_eq!(err.kms_code(), None, "no KMS answered");
    }

    #[test]
    fn kms_refusals_keep_the_tencent_code_and_request_id() {
        let mut answer = KmsError::new("ResourceUnavailable.CmkNotFound", "no such key");
        answer.request_id = Some("6c4b1d3e-0000-4000-8000-000000000001".to_owned());
        let err = CliError::kms(&answer, Some("abc"));
        assert_eq!(err.exit_code(), 6);
        assert_eq!(err.kms_code(), Some("ResourceUnavailable.CmkNotFound"));
        assert_eq!(
            err.request_id(),
            Some("6c4b1d3e-0000-4000-8000-000000000001")
        );
        assert!(err.message().contains("abc"));
    }

    #[test]
    fn kms_ciphertext_errors_on_decrypt_are_integrity_failures() {
        let err = CliError::decrypt(
            DecryptError::Kms(KmsError::new(
                "InvalidParameterValue.InvalidCiphertext",
                "bad",
            )),
            None,
            None,
        );
        assert_eq!(err.exit(), Exit::Integrity);
    }

    #[test]
    fn io_reason_drops_os_error_suffix() {
        let err = std::io::Error::from_raw_os_error(2);
        assert!(!io_reason(&err).contains("os error"));
    }
}
