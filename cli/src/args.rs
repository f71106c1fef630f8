//! The command line, as clap derive types. Help texts teach by example.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kms_core::wrap::kms::{USAGE_RSA_2048, USAGE_SM2, USAGE_SYMMETRIC};

use crate::error::EXIT_CODES_HELP;

const MAIN_EXAMPLES: &str = "\
EXAMPLES:
  # Encrypt and decrypt with the embedded key store (no setup, no server):
  tkms encrypt report.pdf -o report.pdf.tkms
  tkms decrypt report.pdf.tkms -o report.pdf

  # Pipes work; the encryption context must match on decrypt:
  tar c data/ | tkms encrypt --context app=backup > data.tar.tkms
  tkms decrypt --context app=backup data.tar.tkms | tar x

  # Offline only, with an RSA-2048 or SM2 public/private key pair:
  tkms encrypt --recipient alice.pub.pem secrets.txt -o secrets.tkms
  tkms decrypt --identity alice.key.pem secrets.tkms

  # Against a running `tkms serve` or Tencent Cloud KMS:
  TKMS_ENDPOINT=https://kms.tencentcloudapi.com tkms encrypt --key my-alias file

ENVIRONMENT:
  TKMS_DATA_DIR           embedded key store directory (default: <user data dir>/tkms)
  TKMS_ENDPOINT           KMS endpoint URL (default: the embedded key store)
  TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_TOKEN, TENCENTCLOUD_REGION
                          credentials and region for --endpoint

";

fn main_after_help() -> String {
    format!("{MAIN_EXAMPLES}{EXIT_CODES_HELP}")
}

/// Encrypt and decrypt files with Tencent Cloud KMS keys, or with an embedded offline KMS.
#[derive(Debug, Parser)]
#[command(name = "tkms", version, after_help = main_after_help(), propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) kms: KmsArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the KMS is. Global: every subcommand takes these.
#[derive(Debug, Args, Clone)]
pub(crate) struct KmsArgs {
    /// Embedded key store directory [default: ~/.local/share/tkms, or the platform data directory]
    #[arg(
        long,
        global = true,
        env = "TKMS_DATA_DIR",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub(crate) data_dir: Option<PathBuf>,
    /// Use the KMS at URL (a `tkms serve`, or Tencent Cloud at kms.tencentcloudapi.com) instead of the embedded store
    #[arg(
        long,
        global = true,
        env = "TKMS_ENDPOINT",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) endpoint: Option<String>,
    /// Region of the KMS keys
    #[arg(
        long,
        global = true,
        env = "TENCENTCLOUD_REGION",
        hide_env_values = true,
        value_name = "REGION",
        default_value = "ap-guangzhou"
    )]
    pub(crate) region: String,
    /// Credentials for `endpoint` given by a library caller; `None`: the TENCENTCLOUD_*
    /// environment variables, as on the command line.
    #[arg(skip)]
    pub(crate) credentials: Option<kms_core::http::Credentials>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Encrypt(EncryptArgs),
    Decrypt(DecryptArgs),
    Inspect(InspectArgs),
    Key(KeyArgs),
    Serve(ServeArgs),
    Audit(crate::audit::AuditArgs),
    Tde(TdeArgs),
    Completions(CompletionsArgs),
}

/// Report format for commands that report something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable text
    Text,
    /// JSON on standard output (stable field names)
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SuiteArg {
    /// AES-256-GCM frames, HKDF-SHA256
    Aes256gcm,
    /// SM4-GCM frames (RFC 8998), HKDF-SM3
    Sm4gcm,
}

impl SuiteArg {
    pub(crate) fn suite(self) -> kms_core::Suite {
        match self {
            Self::Aes256gcm => kms_core::Suite::Aes256Gcm,
            Self::Sm4gcm => kms_core::Suite::Sm4Gcm,
        }
    }
}

/// A `k=v` encryption-context pair.
pub(crate) fn parse_context_pair(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some(("", _)) => Err("the key before `=` is empty".to_owned()),
        Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
        None => Err(format!("expected KEY=VALUE, got `{raw}`")),
    }
}

/// Where the output goes and whether it may replace a file.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Write to OUT (atomically: a temporary file renamed on success) instead of standard output
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub(crate) out: Option<PathBuf>,
    /// Replace OUT if it exists
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
}

/// Encrypt a file or standard input.
///
/// With no key options, the data key is wrapped by the default key of the embedded key store
/// (alias `tkms-default`, created on first use). --key names a KMS key: symmetric (the KMS wraps
/// the data key) or RSA-2048/SM2 (wrapped locally with its public key). --recipient adds copies
/// of the data key that a private key opens offline; with only --recipient, no KMS is used.
#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
  tkms encrypt notes.txt -o notes.txt.tkms
  tkms encrypt --key prod-backups --context app=db --context env=prod dump.sql -o dump.sql.tkms
  tkms encrypt --key 23e80852-1e38-11e9-b129-5cb9019b4b01 --suite sm4gcm < in > out.tkms
  tkms encrypt --key prod-backups --recipient escrow.pub.pem big.iso -o big.iso.tkms
  tkms encrypt --recipient alice.pub.pem --recipient bob-sm2.pub.pem file -o file.tkms
  tkms encrypt --key prod-backups logs/*.log --out-dir sealed/

The suite defaults to SM4-GCM when the KMS key is an SM4 or SM2 key, or when every recipient
is an SM2 key (a GM-only chain needs no flag); otherwise AES-256-GCM.
Ciphertext is never written to a terminal: use -o or a redirection.")]
pub(crate) struct EncryptArgs {
    /// File to encrypt; `-` or nothing reads standard input. Several files are each sealed to
    /// FILE.tkms (or DIR/NAME.tkms with --out-dir), sharing one cached data key
    #[arg(value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// With several files: write each output into DIR instead of next to its input
    #[arg(long = "out-dir", value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,
    /// KMS key to wrap the data key with: a KeyId or an alias
    #[arg(short = 'k', long, value_name = "KEYID|ALIAS")]
    pub(crate) key: Option<String>,
    /// Also wrap the data key for this RSA-2048 or SM2 public key (PEM); repeatable
    #[arg(short = 'r', long = "recipient", value_name = "PUBKEY.pem")]
    pub(crate) recipients: Vec<PathBuf>,
    /// Encryption context pair, authenticated with the data; repeatable; needed again to decrypt
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE", value_parser = parse_context_pair)]
    pub(crate) context: Vec<(String, String)>,
    /// Cipher suite [default: sm4gcm for SM keys, else aes256gcm]
    #[arg(long, value_enum)]
    pub(crate) suite: Option<SuiteArg>,
    /// Plaintext bytes per authenticated frame (64 B to 16 MiB)
    #[arg(long, value_name = "BYTES", default_value_t = kms_core::DEFAULT_FRAME_SIZE,
          value_parser = clap::value_parser!(u32).range(64..=16 * 1024 * 1024))]
    pub(crate) frame_size: u32,
}

/// Decrypt a tkms file or standard input.
///
/// The key is found from the file: KMS-wrapped data keys are opened through the KMS (the
/// embedded store, or --endpoint); --identity opens offline with a private key instead.
#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
  tkms decrypt notes.txt.tkms -o notes.txt
  tkms decrypt --context app=db --context env=prod dump.sql.tkms -o dump.sql
  tkms decrypt --identity alice.key.pem file.tkms > file
  curl -s https://example.com/f.tkms | tkms decrypt | less
  tkms decrypt sealed/*.log.tkms --out-dir logs/

OUTPUT SAFETY:
  With -o, decryption is all-or-nothing: plaintext goes to a temporary file next to OUT that
  replaces OUT only after the whole file authenticated; on any failure OUT is left untouched.
  To standard output, plaintext is released frame by frame (64 KiB) and only after each frame
  authenticated, but a failed decryption (tampered or truncated file) may already have written a
  prefix of authenticated frames: check the exit status before using the output.")]
pub(crate) struct DecryptArgs {
    /// File to decrypt; `-` or nothing reads standard input. Several NAME.tkms files are each
    /// opened to NAME (or DIR/NAME with --out-dir), sharing unwrapped data keys
    #[arg(value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// With several files: write each output into DIR instead of next to its input
    #[arg(long = "out-dir", value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,
    /// Open with this RSA-2048 or SM2 private key (PEM) instead of the KMS; repeatable
    #[arg(short = 'i', long = "identity", value_name = "KEY.pem")]
    pub(crate) identities: Vec<PathBuf>,
    /// Encryption context pair; must equal the context the file was sealed with
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE", value_parser = parse_context_pair)]
    pub(crate) context: Vec<(String, String)>,
}

/// Show a tkms file's header (suite, frame size, context, wrapped keys) without decrypting.
#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
  tkms inspect backup.tkms
  tkms inspect --output json backup.tkms | jq .wrapped_keys")]
pub(crate) struct InspectArgs {
    /// File to inspect; `-` reads standard input
    #[arg(value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Report format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
}

/// Manage KMS keys (embedded store or --endpoint).
#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
  tkms key create backups
  tkms key create escrow-rsa --usage rsa-2048
  tkms key create gm-backups --material sm4
  tkms key list
  tkms key disable backups
  tkms key rotation backups --enable --days 90
  tkms key public-key escrow-rsa -o escrow.pub.pem
  tkms key describe backups --output json
  tkms key datakey create orders-key --key backups
  tkms key create signer --usage dilithium
  tkms key sign signer --in release.txt > release.sig
  tkms key verify signer --in release.txt --signature-file release.sig

Wherever a key is named, a KeyId or an alias is accepted.")]
pub(crate) struct KeyArgs {
    /// Report format
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    #[command(subcommand)]
    pub(crate) command: KeyCommand,
}

/// What a new key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyUsageArg {
    /// Symmetric key that wraps data keys in the KMS (ENCRYPT_DECRYPT)
    Symmetric,
    /// RSA-2048 decryption key (ASYMMETRIC_DECRYPT_RSA_2048)
    #[value(name = "rsa-2048")]
    Rsa2048,
    /// SM2 decryption key (ASYMMETRIC_DECRYPT_SM2)
    Sm2,
    /// SM2 signing key (ASYMMETRIC_SIGN_VERIFY_SM2)
    #[value(name = "sign-sm2")]
    SignSm2,
    /// RSA-2048 signing key (ASYMMETRIC_SIGN_VERIFY_RSA_2048)
    #[value(name = "sign-rsa-2048")]
    SignRsa2048,
    /// RSA-3072 signing key (ASYMMETRIC_SIGN_VERIFY_RSA_3072)
    #[value(name = "sign-rsa-3072")]
    SignRsa3072,
    /// ECDSA P-256 signing key (ASYMMETRIC_SIGN_VERIFY_ECC)
    #[value(name = "sign-ecc")]
    SignEcc,
    /// ECDSA P-384 signing key (ASYMMETRIC_SIGN_VERIFY_ECDSA384)
    #[value(name = "sign-ecdsa-384")]
    SignEcdsa384,
    /// Post-quantum ML-KEM-768 + AES-256-GCM encryption key (ASYMMETRIC_Encrypt_Decrypt_Kyber_AES)
    Kyber,
    /// Post-quantum ML-DSA-65 signing key (ASYMMETRIC_SIGN_VERIFY_DILITHIUM)
    Dilithium,
}

impl KeyUsageArg {
    /// The KeyUsage sent to CreateKey (the vocabulary is mock-hsm's `key_usage_names`; a test
    /// keeps the two in step).
    pub(crate) fn api_name(self) -> &'static str {
        match self {
            Self::Symmetric => USAGE_SYMMETRIC,
            Self::Rsa2048 => USAGE_RSA_2048,
            Self::Sm2 => USAGE_SM2,
            Self::SignSm2 => "ASYMMETRIC_SIGN_VERIFY_SM2",
            Self::SignRsa2048 => "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
            Self::SignRsa3072 => "ASYMMETRIC_SIGN_VERIFY_RSA_3072",
            Self::SignEcc => "ASYMMETRIC_SIGN_VERIFY_ECC",
            Self::SignEcdsa384 => "ASYMMETRIC_SIGN_VERIFY_ECDSA384",
            Self::Kyber => "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES",
            Self::Dilithium => "ASYMMETRIC_SIGN_VERIFY_DILITHIUM",
        }
    }

    /// The usage a KeyMetadata names, if it is one of ours.
    pub(crate) fn from_api_name(name: &str) -> Option<Self> {
        Self::value_variants()
            .iter()
            .copied()
            .find(|u| u.api_name() == name)
    }

    /// The key material, as `key describe` shows it (`sm` for KeyMetadata Type 4).
    pub(crate) fn material(self, sm: bool) -> &'static str {
        match self {
            Self::Symmetric if sm => "SM4",
            Self::Symmetric => "AES-256",
            Self::Rsa2048 | Self::SignRsa2048 => "RSA-2048",
            Self::SignRsa3072 => "RSA-3072",
            Self::Sm2 | Self::SignSm2 => "SM2",
            Self::SignEcc => "ECDSA P-256",
            Self::SignEcdsa384 => "ECDSA P-384",
            Self::Kyber => "ML-KEM-768 + AES-256-GCM",
            Self::Dilithium => "ML-DSA-65",
        }
    }
}

/// A signature algorithm (SignByAsymmetricKey's Algorithm); the key's usage picks the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SignAlgorithmArg {
    /// SM2 with SM3 and the default id 1234567812345678 (SM2 keys)
    #[value(name = "sm2dsa")]
    Sm2Dsa,
    /// ECDSA P-256 with SHA-256 (ECC keys)
    #[value(name = "ecc-p256")]
    EccP256,
    /// ECDSA P-384 with SHA-384 (ECDSA384 keys)
    #[value(name = "ecdsa-384")]
    Ecdsa384,
    /// RSASSA-PSS with SHA-256 (RSA keys; their default)
    #[value(name = "rsa-pss-sha256")]
    RsaPss,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA keys)
    #[value(name = "rsa-pkcs1-sha256")]
    RsaPkcs1,
}

impl SignAlgorithmArg {
    pub(crate) fn api_name(self) -> &'static str {
        match self {
            Self::Sm2Dsa => "SM2DSA",
            Self::EccP256 => "ECC_P256_R1",
            Self::Ecdsa384 => "ECDSA384_SHA384",
            Self::RsaPss => "RSA_PSS_SHA_256",
            Self::RsaPkcs1 => "RSA_PKCS1_SHA_256",
        }
    }
}

/// Whether the input is the message or its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum MessageTypeArg {
    /// The message itself (at most 4096 bytes)
    #[default]
    Raw,
    /// Its digest: 32 bytes (SHA-256, or SM3 e for SM2), 48 for ECDSA384_SHA384
    Digest,
}

impl MessageTypeArg {
    pub(crate) fn api_name(self) -> &'static str {
        match self {
            Self::Raw => "RAW",
            Self::Digest => "DIGEST",
        }
    }
}

/// The key and message of `tkms key sign` / `verify`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    pub(crate) name: KeyName,
    /// The message file; `-` or absent reads standard input
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Signature algorithm [default: by key usage: SM2DSA, ECC_P256_R1, ECDSA384_SHA384,
    /// RSA_PSS_SHA_256, ML-DSA-65]
    #[arg(long, value_enum)]
    pub(crate) algorithm: Option<SignAlgorithmArg>,
    /// Whether the input is the message or its digest (not for dilithium keys)
    #[arg(long, value_enum, default_value_t = MessageTypeArg::Raw)]
    pub(crate) message_type: MessageTypeArg,
}

/// Symmetric key material in the embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MaterialArg {
    /// AES-256 (KeyMetadata Type 2)
    #[value(name = "aes-256")]
    Aes256,
    /// SM4 (KeyMetadata Type 4); files for it default to the SM4-GCM suite
    Sm4,
}

/// A key named by KeyId or alias.
#[derive(Debug, Args)]
pub(crate) struct KeyName {
    /// KeyId or alias
    #[arg(value_name = "KEY")]
    pub(crate) key: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a key
    Create {
        /// Alias for the new key (letters, digits, `-`, `_`; unique)
        #[arg(value_name = "ALIAS")]
        alias: String,
        /// What the key is for
        #[arg(long, value_enum, default_value_t = KeyUsageArg::Symmetric)]
        usage: KeyUsageArg,
        /// Free-text description
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Symmetric material, embedded store only [default: aes-256]. A remote KMS picks it by
        /// region (SM4 in mainland-China regions on Tencent Cloud).
        #[arg(long, value_enum)]
        material: Option<MaterialArg>,
    },
    /// List keys
    List {
        /// Only keys in this state
        #[arg(long, value_enum)]
        state: Option<KeyStateArg>,
        /// Only keys whose id or alias contains TEXT
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
    },
    /// Show a key's metadata
    Describe(KeyName),
    /// Enable a disabled key
    Enable(KeyName),
    /// Disable a key (it can neither encrypt nor decrypt until enabled)
    Disable(KeyName),
    /// Rotate a key's material now (old material still decrypts)
    Rotate(KeyName),
    /// Show, enable or disable automatic rotation
    Rotation {
        #[command(flatten)]
        name: KeyName,
        /// Turn automatic rotation on
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Turn automatic rotation off
        #[arg(long)]
        disable: bool,
        /// Rotation period in days (7-365) with --enable
        #[arg(long, value_name = "DAYS", requires = "enable", value_parser = clap::value_parser!(u64).range(7..=365))]
        days: Option<u64>,
    },
    /// Schedule a disabled key for deletion after a waiting period
    ScheduleDeletion {
        #[command(flatten)]
        name: KeyName,
        /// Waiting period in days (7-30)
        #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(7..=30))]
        days: u64,
    },
    /// Cancel a scheduled deletion (the key returns to Disabled)
    CancelDeletion(KeyName),
    /// Archive a key (it decrypts but no longer encrypts), or undo with --cancel
    Archive {
        #[command(flatten)]
        name: KeyName,
        /// Restore an archived key to Enabled
        #[arg(long)]
        cancel: bool,
    },
    /// Give a key a new alias
    Alias {
        #[command(flatten)]
        name: KeyName,
        /// The new alias
        #[arg(value_name = "NEW_ALIAS")]
        alias: String,
    },
    /// Data keys the KMS keeps for you under a key (hosted data keys)
    Datakey {
        #[command(subcommand)]
        command: crate::datakeys::DataKeyCommand,
    },
    /// Sign a message (at most 4096 bytes) with a signing key; prints the base64 signature
    Sign(SignArgs),
    /// Check a signature made by `tkms key sign`; exit code 5 when it does not verify
    #[command(group = clap::ArgGroup::new("sig").required(true).args(["signature", "signature_file"]))]
    Verify {
        #[command(flatten)]
        args: SignArgs,
        /// The base64 signature
        #[arg(long, value_name = "BASE64")]
        signature: Option<String>,
        /// A file holding the base64 signature (as `tkms key sign` prints it)
        #[arg(long, value_name = "FILE")]
        signature_file: Option<PathBuf>,
    },
    /// Print an asymmetric key's public key (PEM)
    PublicKey {
        #[command(flatten)]
        name: KeyName,
        /// Write the PEM to FILE instead of standard output
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyStateArg {
    Enabled,
    Disabled,
    PendingDelete,
    PendingImport,
    Archived,
}

impl KeyStateArg {
    /// ListKeyDetail's `KeyState` filter value.
    pub(crate) fn state(self) -> kms_core::kms::KeyState {
        use kms_core::kms::KeyState;
        match self {
            Self::Enabled => KeyState::Enabled,
            Self::Disabled => KeyState::Disabled,
            Self::PendingDelete => KeyState::PendingDelete,
            Self::PendingImport => KeyState::PendingImport,
            Self::Archived => KeyState::Archived,
        }
    }
}

/// Run the mock KMS as a Tencent Cloud KMS-compatible HTTP service.
///
/// Prints `listening on http://HOST:PORT` on stdout when ready; stops on SIGINT/SIGTERM.
/// Clients authenticate with the root credentials: TENCENTCLOUD_SECRET_ID/KEY if set, else
/// the ones kept in DATA_DIR/root-credentials.json (created on first start).
#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
  tkms serve                                   # 127.0.0.1:8573, keys in the embedded store's data dir
  tkms serve --listen 127.0.0.1:0 --in-memory  # a throwaway instance on a free port
  tkms serve --seed keys.toml --region ap-shanghai
  TKMS_LOG=debug tkms serve                    # log one line a call on stderr (docs/serve.md, Log)

Clients on this machine with the same data dir need no credentials:
  tkms --endpoint http://127.0.0.1:8573 encrypt --key ALIAS file -o file.tkms")]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8573")]
    pub(crate) listen: String,
    /// Keep keys in memory only (nothing written to disk; --data-dir is ignored)
    #[arg(long)]
    pub(crate) in_memory: bool,
    /// Seed file of keys to create at start (fixed ids and material; docs/seed-format.md); repeatable
    #[arg(long, value_name = "FILE")]
    pub(crate) seed: Vec<PathBuf>,
    /// Serve /_tkms/clock and /_tkms/reset to loopback callers, with a mock clock. Tests only.
    #[arg(long)]
    pub(crate) test_controls: bool,
    /// Accept requests whose timestamp is far from the clock (to replay recorded requests)
    #[arg(long)]
    pub(crate) insecure_no_clock_skew_check: bool,
    /// CAM config: identities, policies, audit retention (docs/cam.md); reloaded on SIGHUP
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Serve these regions too, beyond the built-in list (GetRegions; a call naming any other
    /// region is UnsupportedRegion): comma-separated names such as ap-newcity,eu-paris
    #[arg(long, value_name = "REGION,...", value_delimiter = ',', value_parser = parse_region)]
    pub(crate) regions: Vec<String>,
    /// Close a connection whose request headers take longer than this [default: 10]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) header_timeout: Option<Duration>,
    /// Refuse a request whose body takes longer than this to arrive [default: 30]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) body_timeout: Option<Duration>,
    /// Close a keep-alive connection idle for longer than this [default: 60]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) idle_timeout: Option<Duration>,
    /// Open connections at most; more are refused with RequestLimitExceeded (lowered to what
    /// the file limit allows) [default: 4096]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: Option<u32>,
    /// Hosted data keys one account may keep per region; more get
    /// LimitExceeded.DataKeyLimitExceeded (GetServiceStatus DataKeyLimit) [default: 1000]
    #[arg(long, value_name = "N")]
    pub(crate) data_key_limit: Option<u64>,
}

/// A region name of the Tencent shape (`ap-guangzhou`, `ap-shanghai-fsi`).
fn parse_region(text: &str) -> Result<String, String> {
    mock_hsm::check_region_name(text).map(|()| text.to_owned())
}

/// A positive number of seconds, fractions allowed (`0.5`).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
  tkms completions bash > ~/.local/share/bash-completion/completions/tkms
  tkms completions zsh > ~/.zfunc/_tkms
  tkms completions fish > ~/.config/fish/completions/tkms.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    /// `--usage` offers exactly the usages the KMS implements (mock-hsm's one list).
    #[test]
    fn usage_values_are_the_kms_usages() {
        let mut cli: Vec<&str> = KeyUsageArg::value_variants()
            .iter()
            .map(|u| u.api_name())
            .collect();
        let mut kms: Vec<&str> = mock_hsm::key_usage_names().collect();
        cli.sort_unstable();
        kms.sort_unstable();
        assert_eq!(cli, kms);
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("5  authentication failed"), "{help}");
    }

    #[test]
    fn context_pairs() {
        assert_eq!(parse_context_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_context_pair("a="), Ok(("a".into(), String::new())));
        assert!(parse_context_pair("=b").is_err());
        assert!(parse_context_pair("ab").is_err());
    }
}

/// Simulate TencentDB transparent data encryption on a KMS key (docs/tde.md)
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tkms tde init /tmp/db --key tkms-default --cipher sm4
  tkms tde load /tmp/db orders orders.csv
  tkms tde read /tmp/db orders --page 0 | head
  tkms tde rotate-master /tmp/db
  tkms key disable tkms-default && tkms tde status /tmp/db   # a restart now fails

The CMK wraps the instance master key, which wraps one key per table; pages are sealed
independently (16 KiB, AES-256-GCM or SM4-GCM) and bound to their number and write counter.")]
pub(crate) struct TdeArgs {
    /// Report format
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    #[command(subcommand)]
    pub(crate) command: crate::tde::TdeCommand,
}
