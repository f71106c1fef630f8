//! Which KMS the CLI talks to (the embedded mock-hsm store or an endpoint), key-name
//! resolution, and the key wrappers built from command-line keys.
//!
//! Everything outside this module sees only `Kms` (an `Arc<dyn KmsTransport>` plus where it
//! points) and `Box<dyn KeyWrapper>`s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kms_core::http::{Credentials, HttpKms};
use kms_core::kms::{KeyManagement as _, KeyMetadata, KmsClient as _, KmsTransport};
#[cfg(test)]
use kms_core::kms::{KmsError, is_key_id};
use kms_core::wrap::kms::{
    KmsAsymmetricWrapper, KmsSymmetricWrapper, KmsUnwrapper, USAGE_RSA_2048, USAGE_SM2,
    USAGE_SYMMETRIC,
};
use kms_core::wrap::local::LocalWrapper;
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod};
use kms_core::{Header, Suite};
use mock_hsm::server::{ROOT_CREDENTIALS_FILE, RootCredentials};
use mock_hsm::{Hsm, HsmConfig, InProcess, OpenError, ROOT_KEY_ENV, SymmetricPolicy};
use zeroize::Zeroizing;

use crate::args::KmsArgs;
use crate::error::{CliError, CliResult, Exit};

/// Alias of the symmetric key the embedded store creates on first use.
pub(crate) const DEFAULT_KEY_ALIAS: &str = "tkms-default";

/// Symmetric key material for keys created in the embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Material {
    /// AES-256 (KeyMetadata Type 2).
    Aes256,
    /// SM4 (KeyMetadata Type 4).
    Sm4,
}

/// Where the KMS is.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// The mock-hsm store in this directory, in-process.
    Embedded(PathBuf),
    /// A KMS endpoint URL.
    Endpoint(String),
}

/// A connected KMS.
pub(crate) struct Kms {
    transport: Arc<dyn KmsTransport>,
    location: Location,
}

impl Kms {
    /// Opens the KMS the arguments name: `--endpoint`, else the embedded store.
    pub(crate) fn open(args: &KmsArgs) -> CliResult<Self> {
        Self::open_with(args, Material::Aes256)
    }

    /// Like [`Kms::open`]; new symmetric keys in the embedded store get `material`.
    pub(crate) fn open_with(args: &KmsArgs, material: Material) -> CliResult<Self> {
        match &args.endpoint {
            Some(url) => {
                let transport = connect_endpoint(
                    url,
                    &args.region,
                    args.credentials.clone(),
                    data_dir(args).ok().as_deref(),
                )?;
                Ok(Self {
                    transport,
                    location: Location::Endpoint(url.clone()),
                })
            }
            None => {
                let dir = data_dir(args)?;
                let transport = open_embedded(&dir, &args.region, material)?;
                Ok(Self {
                    transport,
                    location: Location::Embedded(dir),
                })
            }
        }
    }

    pub(crate) fn transport(&self) -> Arc<dyn KmsTransport> {
        Arc::clone(&self.transport)
    }

    /// Finds a key by KeyId or alias (kms-core's one resolution rule).
    pub(crate) fn resolve(&self, name: &str) -> CliResult<KeyMetadata> {
        self.find(name)?.ok_or_else(|| {
            CliError::new(
                Exit::KmsRefused,
                format!("no key has the alias `{name}` in {self}"),
            )
            .with_hint(format!(
                "list the keys with `tkms key list`, or create one with `tkms key create {name}`"
            ))
        })
    }

    fn find(&self, name: &str) -> CliResult<Option<KeyMetadata>> {
        self.transport
            .find_key(name)
            .map_err(|e| CliError::kms(&e, Some(name)))
    }

    /// The key to use when none was named: `tkms-default`, created in the embedded store on
    /// first use (never created in a remote KMS).
    pub(crate) fn default_key(&self) -> CliResult<KeyMetadata> {
        if let Some(key) = self.find(DEFAULT_KEY_ALIAS)? {
            return Ok(key);
        }
        match &self.location {
            Location::Endpoint(url) => Err(CliError::usage(format!(
                "no --key given, and the KMS at {url} has no key with the alias `{DEFAULT_KEY_ALIAS}`"
            ))
            .with_hint("name the key with --key KEYID|ALIAS (see `tkms key list`)")),
            Location::Embedded(_) => {
                // The store was opened with AES-256 for new symmetric keys (Kms::open).
                let id = self
                    .transport
                    .create_key(
                        DEFAULT_KEY_ALIAS,
                        USAGE_SYMMETRIC,
                        Some("Default key of the tkms CLI, created on first use"),
                    )
                    .map_err(|e| CliError::kms(&e, Some(DEFAULT_KEY_ALIAS)))?;
                self.resolve(&id)
            }
        }
    }
}

impl std::fmt::Display for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Location::Embedded(dir) => write!(f, "the embedded key store at `{}`", dir.display()),
            Location::Endpoint(url) => write!(f, "the KMS at {url}"),
        }
    }
}

/// Creates `dir` (and its parents) owner-only: the key store and its root key live there.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The embedded store's directory: `--data-dir`/`TKMS_DATA_DIR`, else `<user data dir>/tkms`.
pub(crate) fn data_dir(args: &KmsArgs) -> CliResult<PathBuf> {
    if let Some(dir) = &args.data_dir {
        return Ok(dir.clone());
    }
    dirs::data_dir().map(|d| d.join("tkms")).ok_or_else(|| {
        CliError::usage("cannot find a user data directory for the embedded key store")
            .with_hint("pass --data-dir DIR or set TKMS_DATA_DIR")
    })
}

/// Opens (creating on first use) the embedded mock-hsm store in `dir`. New symmetric keys get
/// `material` (the Tencent API has no such parameter: the real KMS picks by region).
fn open_embedded(dir: &Path, region: &str, material: Material) -> CliResult<Arc<dyn KmsTransport>> {
    create_private_dir(dir).map_err(|e| {
        CliError::new(
            Exit::Io,
            format!(
                "cannot create the key store directory `{}`: {e}",
                dir.display()
            ),
        )
        .with_hint("pass a writable --data-dir DIR or set TKMS_DATA_DIR")
    })?;
    let policy = match material {
        Material::Aes256 => SymmetricPolicy::AlwaysAes256,
        Material::Sm4 => SymmetricPolicy::AlwaysSm4,
    };
    let config = HsmConfig::directory(dir)
        .with_default_region(region)
        .with_symmetric(policy);
    let hsm = Hsm::open(config).map_err(|e| {
        let err = CliError::new(Exit::KmsUnavailable, format!("cannot open the key store at `{}`: {e}", dir.display()));
        match e {
            OpenError::WrongRootKey => err.with_hint(format!(
                "use the {ROOT_KEY_ENV} or root.key this store was created with, or another --data-dir"
            )),
            _ => err.with_hint("check --data-dir / TKMS_DATA_DIR"),
        }
    })?;
    Ok(Arc::new(InProcess::new(Arc::new(hsm))))
}

/// Connects to a KMS endpoint. Credentials are `given`, else come from TENCENTCLOUD_SECRET_ID,
/// TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_TOKEN); for a `tkms serve` on this machine,
/// from the root credentials it keeps in the data directory when those are unset.
fn connect_endpoint(
    url: &str,
    region: &str,
    given: Option<Credentials>,
    data_dir: Option<&Path>,
) -> CliResult<Arc<dyn KmsTransport>> {
    let credentials = match given.map_or_else(Credentials::from_env, Ok) {
        Ok(credentials) => credentials,
        Err(_) => local_serve_credentials(url, data_dir).ok_or_else(|| {
            CliError::usage(format!("no credentials for the KMS at {url}")).with_hint(format!(
                "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (a local `tkms serve` keeps them in \
                 <data dir>/{ROOT_CREDENTIALS_FILE})"
            ))
        })?,
    };
    let client = HttpKms::new(url, credentials).map_err(|e| {
        CliError::usage(e.message)
            .with_hint("e.g. --endpoint http://127.0.0.1:8573 or https://kms.tencentcloudapi.com")
    })?;
    Ok(Arc::new(client.with_region(region)))
}

/// The root credentials a `tkms serve` on a loopback address stored in `data_dir`.
fn local_serve_credentials(url: &str, data_dir: Option<&Path>) -> Option<Credentials> {
    let rest = url.strip_prefix("http://")?;
    let host = rest.split('/').next()?;
    let loopback = ["127.0.0.1", "localhost", "[::1]"];
    if !loopback
        .iter()
        .any(|l| host == *l || host.starts_with(&format!("{l}:")))
    {
        return None;
    }
    let bytes = Zeroizing::new(std::fs::read(data_dir?.join(ROOT_CREDENTIALS_FILE)).ok()?);
    let root: RootCredentials = serde_json::from_slice(&bytes).ok()?;
    Some(Credentials::new(
        root.secret_id.clone(),
        root.secret_key.as_str(),
    ))
}

/// A `--recipient` public key.
pub(crate) struct Recipient {
    pub(crate) wrapper: Box<dyn KeyWrapper>,
    /// SM2 (so a GM-only chain defaults to SM4-GCM).
    pub(crate) is_sm2: bool,
}

/// Reads a PEM key file; the bytes are zeroized after use (a private key is a secret).
fn read_pem(path: &Path) -> CliResult<Zeroizing<Vec<u8>>> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| CliError::read(Some(path), &e))
}

/// Loads a `--recipient` RSA-2048 or SM2 public key (PEM or DER SPKI, or PKCS#1 for RSA).
pub(crate) fn recipient_from_pem(path: &Path) -> CliResult<Recipient> {
    recipient_from_bytes(&read_pem(path)?, &path.display().to_string())
}

/// [`recipient_from_pem`] for key bytes already in memory; `name` says where they came from.
pub(crate) fn recipient_from_bytes(pem: &[u8], name: &str) -> CliResult<Recipient> {
    let local = LocalWrapper::from_public_key(pem).map_err(|_| {
        bad_key(
            name,
            "an RSA-2048 or SM2 public key (`-----BEGIN PUBLIC KEY-----`)",
        )
    })?;
    Ok(Recipient {
        is_sm2: local.is_sm2(),
        wrapper: Box::new(local),
    })
}

/// Loads an `--identity` RSA-2048 or SM2 private key (PKCS#8, PKCS#1 or SEC1; PEM or DER).
pub(crate) fn identity_from_pem(path: &Path) -> CliResult<Box<dyn KeyWrapper>> {
    identity_from_bytes(&read_pem(path)?, &path.display().to_string())
}

/// [`identity_from_pem`] for key bytes already in memory; `name` says where they came from.
pub(crate) fn identity_from_bytes(pem: &[u8], name: &str) -> CliResult<Box<dyn KeyWrapper>> {
    let local = LocalWrapper::from_private_key(pem).map_err(|_| {
        bad_key(
            name,
            "an RSA-2048 or SM2 private key (`-----BEGIN PRIVATE KEY-----`)",
        )
    })?;
    Ok(Box::new(local))
}

fn bad_key(name: &str, expected: &str) -> CliError {
    CliError::usage(format!("`{name}` is not {expected}")).with_hint(
        "make a pair with `openssl genpkey -algorithm SM2 -out key.pem` (or `-algorithm RSA -pkeyopt \
         rsa_keygen_bits:2048`), then `openssl pkey -in key.pem -pubout -out key.pub.pem`",
    )
}

/// The wrapper that seals data keys with the KMS key `key` (already resolved).
pub(crate) fn kms_wrapper(
    kms: &Kms,
    key: &KeyMetadata,
    named: &str,
) -> CliResult<Box<dyn KeyWrapper>> {
    match key.key_usage.as_str() {
        USAGE_SYMMETRIC => Ok(Box::new(KmsSymmetricWrapper::new(kms.transport(), key.key_id.clone()))),
        USAGE_RSA_2048 | USAGE_SM2 => KmsAsymmetricWrapper::new(kms.transport(), key.key_id.clone())
            .map(|w| Box::new(w) as Box<dyn KeyWrapper>)
            .map_err(|e| CliError::wrap(e, Some(named))),
        other => Err(CliError::usage(format!("key {named} cannot encrypt data keys: its usage is {other}"))
            .with_hint("use a symmetric key (`tkms key create ALIAS`) or one made with `--usage rsa-2048` or `--usage sm2`")),
    }
}

/// The KMS keys an envelope's data key is wrapped for.
pub(crate) fn kms_key_ids(header: &Header) -> Vec<(String, WrapMethod)> {
    header
        .wrapped_keys
        .iter()
        .filter_map(|w| match &w.key_ref {
            KeyRef::Kms { key_id } => Some((key_id.clone(), w.method)),
            _ => None,
        })
        .collect()
}

/// The unwrapper that opens an envelope's KMS-wrapped data keys through `kms`, with the key
/// ids the envelope records.
pub(crate) fn kms_unwrapper(kms: &Kms) -> Box<dyn KeyWrapper> {
    Box::new(KmsUnwrapper::new(kms.transport()))
}

/// The suite to use when `--suite` is not given: SM4-GCM for an SM4 (KeyMetadata Type 4) or
/// SM2 KMS key, or when every recipient is SM2 and no KMS key is used; else AES-256-GCM.
pub(crate) fn default_suite(kms_key: Option<&KeyMetadata>, recipients: &[Recipient]) -> Suite {
    let sm_kms = |k: &KeyMetadata| k.key_type == 4 || k.key_usage == USAGE_SM2;
    match kms_key {
        Some(key) if sm_kms(key) => Suite::Sm4Gcm,
        Some(_) => Suite::Aes256Gcm,
        None if !recipients.is_empty() && recipients.iter().all(|r| r.is_sm2) => Suite::Sm4Gcm,
        None => Suite::Aes256Gcm,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A KMS with a fixed key list that answers ListKeyDetail (fuzzy alias search, paging)
    /// and DescribeKey, recording every call.
    struct FakeKms {
        keys: Vec<(String, String)>,
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl KmsTransport for FakeKms {
        fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
            let p: Value = serde_json::from_slice(params).unwrap();
            self.calls.lock().unwrap().push(action.to_owned());
            let meta = |(id, alias): &(String, String)| json!({"KeyId": id, "Alias": alias, "KeyUsage": "ENCRYPT_DECRYPT", "Type": 2});
            let body = match action {
                "ListKeyDetail" => {
                    let search = p["SearchKeyAlias"].as_str().unwrap_or("");
                    let hits: Vec<Value> = self
                        .keys
                        .iter()
                        .filter(|(id, a)| a.contains(search) || id.contains(search))
                        .map(meta)
                        .collect();
                    let (offset, limit) = (
                        p["Offset"].as_u64().unwrap() as usize,
                        p["Limit"].as_u64().unwrap() as usize,
                    );
                    let page: Vec<Value> = hits
                        .iter()
                        .skip(offset)
                        .take(limit.min(2))
                        .cloned()
                        .collect();
                    json!({"TotalCount": hits.len(), "KeyMetadatas": page, "RequestId": "r"})
                }
                "DescribeKey" => match self.keys.iter().find(|(id, _)| p["KeyId"] == json!(id)) {
                    Some(k) => json!({"KeyMetadata": meta(k), "RequestId": "r"}),
                    None => {
                        return Err(KmsError::new(
                            "ResourceUnavailable.CmkNotFound",
                            "no such key",
                        ));
                    }
                },
                other => panic!("unexpected action {other}"),
            };
            Ok(Zeroizing::new(serde_json::to_vec(&body).unwrap()))
        }
    }

    fn fake_kms(aliases: &[&str]) -> (Kms, Arc<FakeKms>) {
        let keys = aliases
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("00000000-0000-4000-8000-{i:012}"), (*a).to_owned()))
            .collect();
        let fake = Arc::new(FakeKms {
            keys,
            calls: Default::default(),
        });
        let kms = Kms {
            transport: fake.clone(),
            location: Location::Endpoint("http://fake".into()),
        };
        (kms, fake)
    }

    #[test]
    fn aliases_resolve_by_exact_match_across_pages() {
        // "backup" fuzzily matches four keys over two pages of two; only the last is exact.
        let (kms, _) = fake_kms(&["backup-a", "backup-b", "old-backup-x", "backup", "other"]);
        assert_eq!(
            kms.resolve("backup").unwrap().key_id,
            "00000000-0000-4000-8000-000000000003"
        );
    }

    #[test]
    fn unknown_alias_is_a_kms_refusal_with_a_hint() {
        let (kms, _) = fake_kms(&["backup-a"]);
        let err = kms.resolve("backup").err().unwrap();
        assert_eq!(err.exit(), Exit::KmsRefused);
        assert!(
            err.to_string().contains("no key has the alias `backup`"),
            "{err}"
        );
    }

    #[test]
    fn key_ids_skip_the_alias_lookup() {
        let (kms, fake) = fake_kms(&["a"]);
        assert_eq!(
            kms.resolve("00000000-0000-4000-8000-000000000000")
                .unwrap()
                .alias,
            "a"
        );
        assert_eq!(*fake.calls.lock().unwrap(), ["DescribeKey"]);
        let err = kms
            .resolve("00000000-0000-4000-8000-000000000009")
            .err()
            .unwrap();
        assert_eq!(err.exit(), Exit::KmsRefused);
    }

    #[test]
    fn no_default_key_is_created_in_a_remote_kms() {
        let (kms, fake) = fake_kms(&["other"]);
        let err = kms.default_key().err().unwrap();
        assert_eq!(err.exit(), Exit::Usage);
        assert!(!fake.calls.lock().unwrap().iter().any(|c| c == "CreateKey"));
    }

    #[test]
    fn key_ids_are_uuids_and_aliases_are_not() {
        assert!(is_key_id("23e80852-1e38-11e9-b129-5cb9019b4b01"));
        assert!(!is_key_id("tkms-default"));
        assert!(!is_key_id("23e80852-1e38-11e9-b129-5cb9019b4b0z"));
        assert!(!is_key_id("23e808521-e38-11e9-b129-5cb9019b4b01"));
    }

    fn summary(key_type: i64, usage: &str) -> KeyMetadata {
        serde_json::from_value(json!({"KeyId": "k", "KeyUsage": usage, "Type": key_type})).unwrap()
    }

    #[test]
    fn sm_keys_default_to_sm4() {
        assert_eq!(
            default_suite(Some(&summary(4, "ENCRYPT_DECRYPT")), &[]),
            Suite::Sm4Gcm
        );
        assert_eq!(
            default_suite(Some(&summary(2, "ASYMMETRIC_DECRYPT_SM2")), &[]),
            Suite::Sm4Gcm
        );
        assert_eq!(
            default_suite(Some(&summary(2, "ENCRYPT_DECRYPT")), &[]),
            Suite::Aes256Gcm
        );
        assert_eq!(default_suite(None, &[]), Suite::Aes256Gcm);
    }
}
