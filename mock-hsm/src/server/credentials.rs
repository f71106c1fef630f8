//! Who may call: SecretId → (account, identity, SecretKey). [`StaticCredentials`] holds one
//! root identity; the CAM config (`super::cam::Cam`) adds sub-users, collaborators, roles and
//! their STS tokens (`X-TC-Token`).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kms_core::http::tc3;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::ApiError;

/// The account uin of the root identity. Fixed, so keys stay visible when the root
/// credentials change (e.g. other values in `TENCENTCLOUD_SECRET_ID`).
pub const ROOT_ACCOUNT_UIN: u64 = 100_000_000_001;

/// A caller the server knows: its account, its name in the account, and its SecretKey.
pub struct Principal {
    /// The account uin (keys are isolated per account).
    pub account_uin: u64,
    /// The identity within the account (`root`, a sub-user...).
    pub identity: String,
    secret_key: Zeroizing<String>,
    /// The last TC3 signing key derived from `secret_key` (one per date and service).
    signing_key: Mutex<Option<Arc<tc3::SigningKey>>>,
    /// The CAM grant the call is judged by; `None`: unrestricted (the root without a config).
    pub(crate) grant: Option<Arc<crate::Grant>>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("account_uin", &self.account_uin)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// A principal with its SecretKey.
    pub fn new(
        account_uin: u64,
        identity: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        Self {
            account_uin,
            identity: identity.into(),
            secret_key: Zeroizing::new(secret_key.into()),
            signing_key: Mutex::default(),
            grant: None,
        }
    }

    /// A principal judged by a CAM grant.
    pub(crate) fn with_grant(grant: Arc<crate::Grant>, secret_key: Zeroizing<String>) -> Self {
        Self {
            account_uin: grant.account_uin,
            identity: grant.identity.clone(),
            secret_key,
            signing_key: Mutex::default(),
            grant: Some(grant),
        }
    }

    /// Whether these are a role session's temporary credentials (the only ones with a token).
    pub(crate) fn is_session(&self) -> bool {
        self.grant
            .as_ref()
            .is_some_and(|g| g.kind == crate::IdentityKind::Role)
    }

    /// The SecretKey, for signature verification only.
    pub(crate) fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The TC3 signing key for `date` and `service`, derived once per day rather than per call.
    pub(crate) fn signing_key(&self, date: &str, service: &str) -> Arc<tc3::SigningKey> {
        let mut cached = self
            .signing_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*cached {
            Some(key) if key.is_for(date, service) => Arc::clone(key),
            _ => {
                let key = Arc::new(tc3::SigningKey::derive(&self.secret_key, date, service));
                *cached = Some(Arc::clone(&key));
                key
            }
        }
    }
}

/// Looks callers up by SecretId.
pub trait CredentialStore: Send + Sync {
    /// The principal owning `secret_id`, given the session token the request carried.
    ///
    /// Errors are Tencent errors: `AuthFailure.SecretIdNotFound` for an unknown id,
    /// `AuthFailure.TokenFailure` for a bad token.
    fn lookup(&self, secret_id: &str, token: Option<&str>) -> Result<Arc<Principal>, ApiError>;

    /// The account and identity owning `secret_id`, without any check: to audit failed
    /// authentications. Default: unknown.
    fn identify(&self, secret_id: &str) -> Option<(u64, String)> {
        let _ = secret_id;
        None
    }
}

/// A fixed set of long-term keys. They have no session token; the server refuses a request
/// that sends one with them (`AuthFailure.TokenFailure`).
#[derive(Debug, Default)]
pub struct StaticCredentials {
    by_secret_id: HashMap<String, Arc<Principal>>,
}

impl StaticCredentials {
    /// Only the root identity, with these keys.
    pub fn root(root: &RootCredentials) -> Self {
        let mut store = Self::default();
        store.insert(
            &root.secret_id,
            Principal::new(ROOT_ACCOUNT_UIN, "root", root.secret_key.as_str()),
        );
        store
    }

    /// Adds (or replaces) a key.
    pub fn insert(&mut self, secret_id: &str, principal: Principal) {
        self.by_secret_id
            .insert(secret_id.to_owned(), Arc::new(principal));
    }
}

impl CredentialStore for StaticCredentials {
    fn lookup(&self, secret_id: &str, _token: Option<&str>) -> Result<Arc<Principal>, ApiError> {
        self.by_secret_id.get(secret_id).cloned().ok_or_else(|| {
            ApiError::new(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure that your SecretId is correct.",
            )
        })
    }

    fn identify(&self, secret_id: &str) -> Option<(u64, String)> {
        self.by_secret_id
            .get(secret_id)
            .map(|p| (p.account_uin, p.identity.clone()))
    }
}

/// The root identity's API key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCredentials {
    /// SecretId (`AKID...`).
    pub secret_id: String,
    /// SecretKey.
    pub secret_key: Zeroizing<String>,
}

impl std::fmt::Debug for RootCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCredentials")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

/// Where [`RootCredentials::resolve`] found the root key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY`.
    Environment,
    /// Read from this file in the data directory.
    Stored(PathBuf),
    /// Generated now and written to this file (show it to the user once).
    Generated(Option<PathBuf>),
}

/// The file in the data directory that keeps a generated root key (mode 0600).
pub const ROOT_CREDENTIALS_FILE: &str = "root-credentials.json";

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_alphanumeric(len: usize) -> std::io::Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut pool = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        getrandom::fill(&mut *pool)
            .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
        // Rejection sampling: 248 = 4 * 62, so every character is equally likely.
        for &b in pool.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHANUMERIC[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

impl RootCredentials {
    /// Fresh random keys in the Tencent shapes (36-character `AKID...` id, 32-character key).
    pub fn generate() -> std::io::Result<Self> {
        let id = random_alphanumeric(32)?;
        Ok(Self {
            secret_id: format!("AKID{}", id.as_str()),
            secret_key: random_alphanumeric(32)?,
        })
    }

    /// The environment's keys if both variables are set, else the ones stored in `data_dir`,
    /// else new ones (stored in `data_dir` with mode 0600 when there is one).
    pub fn resolve(data_dir: Option<&Path>) -> std::io::Result<(Self, CredentialSource)> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let from_env = match (
            env("TENCENTCLOUD_SECRET_ID"),
            env("TENCENTCLOUD_SECRET_KEY"),
        ) {
            (Some(secret_id), Some(secret_key)) => Some(Self {
                secret_id,
                secret_key: Zeroizing::new(secret_key),
            }),
            _ => None,
        };
        Self::resolve_with(from_env, data_dir)
    }

    fn resolve_with(
        from_env: Option<Self>,
        data_dir: Option<&Path>,
    ) -> std::io::Result<(Self, CredentialSource)> {
        if let Some(credentials) = from_env {
            return Ok((credentials, CredentialSource::Environment));
        }
        let Some(dir) = data_dir else {
            return Ok((Self::generate()?, CredentialSource::Generated(None)));
        };
        let path = dir.join(ROOT_CREDENTIALS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let stored: Self = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is not valid: {e}", path.display()),
                    )
                })?;
                Ok((stored, CredentialSource::Stored(path)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = Self::generate()?;
                std::fs::create_dir_all(dir)?;
                write_private(
                    &path,
                    &Zeroizing::new(
                        serde_json::to_vec_pretty(&fresh).map_err(std::io::Error::other)?,
                    ),
                )?;
                Ok((fresh, CredentialSource::Generated(Some(path))))
            }
            Err(e) => Err(e),
        }
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_tencent_shape_and_differ() {
        let a = RootCredentials::generate().expect("random");
        let b = RootCredentials::generate().expect("random");
        assert_eq!(a.secret_id.len(), 36);
        assert!(a.secret_id.starts_with("AKID"));
        assert_eq!(a.secret_key.len(), 32);
        assert!(a.secret_key.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.secret_key, b.secret_key);
        assert!(!format!("{a:?}").contains(a.secret_key.as_str()));
    }

    #[test]
    fn generated_keys_are_stored_0600_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (first, source) =
            RootCredentials::resolve_with(None, Some(dir.path())).expect("generated");
        let path = dir.path().join(ROOT_CREDENTIALS_FILE);
        assert_eq!(source, CredentialSource::Generated(Some(path.clone())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) =
            RootCredentials::resolve_with(None, Some(dir.path())).expect("stored");
        assert_eq!(source, CredentialSource::Stored(path));
        assert_eq!(again.secret_id, first.secret_id);
        assert_eq!(again.secret_key, first.secret_key);
        // The environment wins over the stored key.
        let env = RootCredentials {
            secret_id: "AKIDenv".into(),
            secret_key: Zeroizing::new("envkey".into()),
        };
        let (chosen, source) =
            RootCredentials::resolve_with(Some(env), Some(dir.path())).expect("env");
        assert_eq!(
            (chosen.secret_id.as_str(), source),
            ("AKIDenv", CredentialSource::Environment)
        );
        // A damaged file is an error, not a silent new key.
        std::fs::write(dir.path().join(ROOT_CREDENTIALS_FILE), b"junk").expect("overwrite");
        assert!(RootCredentials::resolve_with(None, Some(dir.path())).is_err());
    }

    #[test]
    fn unknown_secret_id_is_refused() {
        let root = RootCredentials {
            secret_id: "AKIDroot".into(),
            secret_key: Zeroizing::new("k".into()),
        };
        let store = StaticCredentials::root(&root);
        assert_eq!(
            store.lookup("AKIDroot", None).expect("known").account_uin,
            ROOT_ACCOUNT_UIN
        );
        assert_eq!(
            store.lookup("AKIDother", None).expect_err("unknown").code,
            "AuthFailure.SecretIdNotFound"
        );
    }
}
