//! CAM in the server: the credential store over the `--config` identities and role sessions,
//! the per-call access decision (made before dispatch, so a denied call changes nothing), and
//! the reloadable config snapshot (SIGHUP).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

use super::credentials::{CredentialStore, Principal, ROOT_ACCOUNT_UIN, RootCredentials};
use crate::api::{ApiError, CallContext, CallTargets};
use crate::cam::{
    AccessRequest, CamConfig, ConfigError, Decision, Grant, IdentityKind, KeyResource, Sessions,
    TempCredentials,
};
use crate::clock::Clock;

/// The code of a call CAM refuses. The KMS error list (docs/kms-api.md §5.1 and every action's list
/// in §5.3) names `UnauthorizedOperation`; `AuthFailure.UnauthorizedOperation` is the
/// platform-wide variant, which KMS's per-action lists never mention.
pub const UNAUTHORIZED: &str = "UnauthorizedOperation";

/// The STS API version whose `AssumeRole` the server answers.
pub const STS_VERSION: &str = "2018-08-13";

/// The identities and policies of a `--config` file, reloadable, plus the live role sessions.
pub struct Cam {
    current: RwLock<Arc<Snapshot>>,
    path: Option<PathBuf>,
    sessions: Sessions,
    clock: Arc<dyn Clock>,
    root: Option<(String, Arc<Principal>)>,
}

impl std::fmt::Debug for Cam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cam")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One loaded config and the principals of its long-term keys, built once per load so a call
/// costs one map lookup.
struct Snapshot {
    config: Arc<CamConfig>,
    principals: HashMap<String, Arc<Principal>>,
}

impl Snapshot {
    fn new(config: CamConfig) -> Self {
        let principals = config
            .keys
            .iter()
            .filter(|(_, entry)| entry.grant.kind != IdentityKind::MessageRecipient)
            .map(|(id, entry)| {
                let key = entry.secret_key.clone().unwrap_or_default();
                (
                    id.clone(),
                    Arc::new(Principal::with_grant(Arc::clone(&entry.grant), key)),
                )
            })
            .collect();
        Self {
            config: Arc::new(config),
            principals,
        }
    }
}

impl Cam {
    /// CAM over `config`, judging session expiry by `clock` (the HSM's, so test controls move
    /// it). `path` is what [`reload`](Self::reload) re-reads.
    pub fn new(config: CamConfig, path: Option<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self {
            current: RwLock::new(Arc::new(Snapshot::new(config))),
            path,
            sessions: Sessions::new(),
            clock,
            root: None,
        }
    }

    /// Loads `path`, refusing a bad file.
    pub fn load(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Ok(Self::new(
            CamConfig::load(path)?,
            Some(path.to_owned()),
            clock,
        ))
    }

    /// Also accepts the server's resolved root credentials as the root of account
    /// [`ROOT_ACCOUNT_UIN`] (unless the config gives that SecretId to someone else).
    pub fn with_root(mut self, root: &RootCredentials) -> Self {
        let grant = Arc::new(Grant {
            account_uin: ROOT_ACCOUNT_UIN,
            identity: "root".into(),
            kind: IdentityKind::Root,
            policies: Vec::new(),
            principals: vec![format!("qcs::cam::uin/{ROOT_ACCOUNT_UIN}:root")],
        });
        self.root = Some((
            root.secret_id.clone(),
            Arc::new(Principal::with_grant(grant, root.secret_key.clone())),
        ));
        self
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<CamConfig> {
        Arc::clone(&self.current().config)
    }

    fn current(&self) -> Arc<Snapshot> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Re-reads the config file and swaps it in; on any error the old config stays.
    /// In-flight calls finish under the snapshot they started with.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.path else {
            return Err(ConfigError("no config file to reload".into()));
        };
        let fresh = Arc::new(Snapshot::new(CamConfig::load(path)?));
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    /// The config file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    pub(crate) fn purge_sessions(&self) {
        self.sessions.purge_expired(self.now());
    }

    /// `sts:AssumeRole` for `principal`.
    pub(crate) fn assume_role(
        &self,
        principal: &Principal,
        params: &[u8],
    ) -> Result<TempCredentials, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct AssumeRole {
            role_arn: String,
            role_session_name: String,
            duration_seconds: Option<u64>,
        }
        let request: AssumeRole = serde_json::from_slice(params).map_err(|e| {
            ApiError::new(
                "InvalidParameter",
                format!("AssumeRole takes RoleArn, RoleSessionName and DurationSeconds: {e}"),
            )
        })?;
        let Some(grant) = &principal.grant else {
            return Err(ApiError::new(
                UNAUTHORIZED,
                "Only identities from the CAM config may assume roles.",
            ));
        };
        self.sessions.assume_role(
            &self.snapshot(),
            grant,
            &request.role_arn,
            &request.role_session_name,
            request.duration_seconds,
            self.now(),
        )
    }
}

impl CredentialStore for Cam {
    fn lookup(&self, secret_id: &str, token: Option<&str>) -> Result<Arc<Principal>, ApiError> {
        let current = self.current();
        if let Some(principal) = current.principals.get(secret_id) {
            return Ok(Arc::clone(principal));
        }
        let config = &current.config;
        if config.keys.contains_key(secret_id) {
            return Err(ApiError::new(
                "AuthFailure.InvalidSecretId",
                "This SecretId belongs to a message recipient, which has no API access.",
            ));
        }
        if let Some((id, principal)) = &self.root
            && id == secret_id
        {
            return Ok(Arc::clone(principal));
        }
        match self.sessions.lookup(config, secret_id, token, self.now()) {
            Some(Ok((key, grant))) => Ok(Arc::new(Principal::with_grant(grant, key))),
            Some(Err(e)) => Err(e),
            None => Err(ApiError::new(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure that your SecretId is correct.",
            )),
        }
    }

    fn identify(&self, secret_id: &str) -> Option<(u64, String)> {
        let config = self.snapshot();
        if let Some(entry) = config.keys.get(secret_id) {
            return Some((entry.grant.account_uin, entry.grant.identity.clone()));
        }
        self.root
            .as_ref()
            .filter(|(id, _)| id == secret_id)
            .map(|(_, p)| (p.account_uin, p.identity.clone()))
            .or_else(|| self.sessions.identify(secret_id))
    }
}

/// Decides a call before it runs. Every key it names must be allowed; a call on another
/// account's keys (all one owner) runs in that account when allowed.
pub(crate) fn authorize(
    cam: &Cam,
    lookup: &dyn Fn(&str) -> Option<Arc<KeyResource>>,
    grant: &Grant,
    ctx: &mut CallContext,
    action: &str,
    targets: &CallTargets,
) -> Result<(), ApiError> {
    let config = cam.snapshot();
    let resources: Vec<Arc<KeyResource>> = if targets.key_ids.is_empty() {
        vec![Arc::new(KeyResource {
            key_id: None,
            region: ctx.region.clone(),
            owner_uin: grant.account_uin,
            tags: Vec::new(),
        })]
    } else {
        targets
            .key_ids
            .iter()
            .map(|id| {
                lookup(id)
                    .filter(|r| r.region == ctx.region)
                    // Unknown here: judge the nominal resource; the call answers CmkNotFound.
                    .unwrap_or_else(|| {
                        Arc::new(KeyResource {
                            key_id: Some(id.clone()),
                            region: ctx.region.clone(),
                            owner_uin: grant.account_uin,
                            tags: Vec::new(),
                        })
                    })
            })
            .collect()
    };
    let owner = resources[0].owner_uin;
    if resources.iter().any(|r| r.owner_uin != owner) {
        return Err(ApiError::new(
            UNAUTHORIZED,
            format!("kms:{action} may not name keys of different accounts in one call."),
        ));
    }
    let now = cam.now();
    for resource in &resources {
        let request = AccessRequest {
            action,
            caller_uin: grant.account_uin,
            resource,
            source_ip: ctx.source_ip,
            now,
            encryption_context: targets.encryption_context.as_deref(),
        };
        if let Decision::Deny(message) = config.authorize(grant, &request) {
            return Err(ApiError::new(UNAUTHORIZED, message));
        }
    }
    ctx.account_uin = owner;
    Ok(())
}
