//! The `tkms serve --config` file (docs/cam.md): root accounts, sub-users, collaborators,
//! message recipients, roles, named policies and audit retention. Everything is checked at
//! load; one bad policy refuses the whole file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use zeroize::Zeroizing;

use super::policy::{AccessRequest, Policy, Verdict};

/// CloudAudit's default retention.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// Longest role session (CAM: 12 hours).
const MAX_SESSION_SECONDS: u64 = 43_200;
/// Default role session (CAM: 2 hours).
pub(crate) const DEFAULT_SESSION_SECONDS: u64 = 7_200;

/// Why a config was refused. Never contains a SecretKey.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("CAM config: {0}")]
pub struct ConfigError(pub String);

/// What kind of identity holds a set of keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The account's owner: everything on its own resources.
    Root,
    /// A sub-user of the account.
    SubUser,
    /// A collaborator (a user of another account invited into this one).
    Collaborator,
    /// A message recipient: known to the account, no API access.
    MessageRecipient,
    /// A role session (temporary credentials).
    Role,
}

/// What a caller may do: its account, its name, its kind, its attached policies.
#[derive(Debug)]
pub struct Grant {
    /// The account the identity acts in.
    pub account_uin: u64,
    /// The identity (`root`, a user name, `role/NAME/SESSION`).
    pub identity: String,
    /// The kind.
    pub kind: IdentityKind,
    pub(crate) policies: Vec<Arc<Policy>>,
    /// CAM principal strings this identity answers to in account policies.
    pub(crate) principals: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    policies: BTreeMap<String, String>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    roles: Vec<RawRole>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    retention_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    uin: u64,
    secret_id: Option<String>,
    secret_key: Option<Zeroizing<String>>,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    account_policies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    account: u64,
    kind: IdentityKind,
    secret_id: Option<String>,
    secret_key: Option<Zeroizing<String>>,
    #[serde(default)]
    policies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: String,
    account: u64,
    #[serde(default)]
    trust: Vec<String>,
    #[serde(default)]
    policies: Vec<String>,
    max_session_seconds: Option<u64>,
}

/// Long-term keys: a SecretKey and who holds it.
pub(crate) struct KeyEntry {
    // Read by the server's credential store only.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) secret_key: Option<Zeroizing<String>>,
    pub(crate) grant: Arc<Grant>,
}

/// A role: its grant template and who may assume it.
pub(crate) struct Role {
    pub(crate) account_uin: u64,
    pub(crate) name: String,
    pub(crate) trust: Vec<String>,
    pub(crate) policies: Vec<Arc<Policy>>,
    pub(crate) max_session_seconds: u64,
}

/// A loaded, checked config.
pub struct CamConfig {
    pub(crate) keys: HashMap<String, KeyEntry>,
    pub(crate) roles: HashMap<(u64, String), Role>,
    account_policies: HashMap<u64, Vec<Arc<Policy>>>,
    retention_days: u32,
}

impl std::fmt::Debug for CamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamConfig")
            .field("identities", &self.keys.len())
            .field("roles", &self.roles.len())
            .field("retention_days", &self.retention_days)
            .finish_non_exhaustive()
    }
}

/// The decision on one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, with a reason for the message (no secrets in it).
    Deny(String),
}

fn err<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// The principal string of an identity.
fn principal_of(uin: u64, kind: IdentityKind, name: &str) -> Vec<String> {
    let mut out = vec![format!("qcs::cam::uin/{uin}:root")];
    match kind {
        IdentityKind::Root => {}
        IdentityKind::Role => out.push(format!("qcs::cam::uin/{uin}:roleName/{name}")),
        _ => out.push(format!("qcs::cam::uin/{uin}:user/{name}")),
    }
    out
}

impl CamConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?,
        );
        Self::parse(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and checks a config. Errors never quote the file (it holds SecretKeys).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1
            });
            ConfigError(match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_owned(),
            })
        })?;
        let mut policies = HashMap::new();
        for (name, document) in &raw.policies {
            let policy = Policy::parse(document)
                .map_err(|e| ConfigError(format!("policy {name:?}: {e}")))?;
            policies.insert(name.clone(), Arc::new(policy));
        }
        let lookup = |names: &[String], owner: &str, account: bool| {
            names
                .iter()
                .map(|n| {
                    let p = policies
                        .get(n)
                        .ok_or_else(|| ConfigError(format!("{owner} names unknown policy {n:?}")))?;
                    match (account, p.has_principals()) {
                        (false, Some(i)) => err(format!(
                            "policy {n:?} statement {i}: principal is only for account_policies ({owner})"
                        )),
                        (true, None) => err(format!(
                            "policy {n:?} has no principal, so it cannot be an account policy ({owner})"
                        )),
                        _ => Ok(Arc::clone(p)),
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };

        let mut keys: HashMap<String, KeyEntry> = HashMap::new();
        let mut add_key = |secret_id: Option<String>,
                           secret_key: Option<Zeroizing<String>>,
                           grant: Grant,
                           who: &str|
         -> Result<(), ConfigError> {
            let Some(id) = secret_id else {
                if secret_key.is_some() {
                    return err(format!("{who} has a secret_key but no secret_id"));
                }
                return Ok(());
            };
            if id.trim().is_empty() {
                return err(format!("{who} has an empty secret_id"));
            }
            let recipient = grant.kind == IdentityKind::MessageRecipient;
            if !recipient && secret_key.as_ref().is_none_or(|k| k.is_empty()) {
                return err(format!("{who} has a secret_id but no secret_key"));
            }
            if keys.contains_key(&id) {
                return err(format!("{who}: secret_id {id} is used twice"));
            }
            keys.insert(
                id,
                KeyEntry {
                    secret_key,
                    grant: Arc::new(grant),
                },
            );
            Ok(())
        };

        let mut account_policies = HashMap::new();
        let mut uins = HashSet::new();
        for a in raw.accounts {
            let who = format!("account {}", a.uin);
            if !uins.insert(a.uin) {
                return err(format!("{who} is defined twice"));
            }
            account_policies.insert(a.uin, lookup(&a.account_policies, &who, true)?);
            let grant = Grant {
                account_uin: a.uin,
                identity: "root".into(),
                kind: IdentityKind::Root,
                policies: lookup(&a.policies, &who, false)?,
                principals: principal_of(a.uin, IdentityKind::Root, "root"),
            };
            add_key(a.secret_id, a.secret_key, grant, &who)?;
        }
        let mut names = HashSet::new();
        // Who a role's trust list may name: each account's root and its API users.
        let mut trustable: HashMap<u64, Vec<String>> = uins
            .iter()
            .map(|&uin| (uin, vec!["root".to_owned()]))
            .collect();
        for u in raw.users {
            let who = format!("user {:?} of account {}", u.name, u.account);
            if !uins.contains(&u.account) {
                return err(format!("{who}: no such account"));
            }
            if u.name.is_empty() || u.name == "root" || u.name.starts_with("role/") {
                return err(format!("{who}: the name is reserved or empty"));
            }
            if !names.insert((u.account, u.name.clone())) {
                return err(format!("{who} is defined twice"));
            }
            if u.kind == IdentityKind::Root || u.kind == IdentityKind::Role {
                return err(format!(
                    "{who}: kind must be sub_user, collaborator or message_recipient"
                ));
            }
            if u.kind != IdentityKind::MessageRecipient {
                trustable.entry(u.account).or_default().push(u.name.clone());
            }
            let grant = Grant {
                account_uin: u.account,
                principals: principal_of(u.account, u.kind, &u.name),
                identity: u.name,
                kind: u.kind,
                policies: lookup(&u.policies, &who, false)?,
            };
            add_key(u.secret_id, u.secret_key, grant, &who)?;
        }
        let mut roles = HashMap::new();
        for r in raw.roles {
            let who = format!("role {:?} of account {}", r.name, r.account);
            if !uins.contains(&r.account) {
                return err(format!("{who}: no such account"));
            }
            let max = r.max_session_seconds.unwrap_or(MAX_SESSION_SECONDS);
            if max == 0 || max > MAX_SESSION_SECONDS {
                return err(format!(
                    "{who}: max_session_seconds must be 1..={MAX_SESSION_SECONDS}"
                ));
            }
            for entry in &r.trust {
                check_trust_entry(entry, r.account, &trustable)
                    .map_err(|e| ConfigError(format!("{who}: {}", e.0)))?;
            }
            let role = Role {
                account_uin: r.account,
                name: r.name.clone(),
                trust: r.trust,
                policies: lookup(&r.policies, &who, false)?,
                max_session_seconds: max,
            };
            if roles.insert((r.account, r.name), role).is_some() {
                return err(format!("{who} is defined twice"));
            }
        }
        let retention_days = raw.audit.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS);
        if retention_days == 0 {
            return err("audit.retention_days must be at least 1");
        }
        Ok(Self {
            keys,
            roles,
            account_policies,
            retention_days,
        })
    }

    /// How long audit rows are kept.
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The grant of the long-term keys `secret_id` (message recipients included: judge them
    /// with [`authorize`](Self::authorize), which refuses them).
    pub fn grant(&self, secret_id: &str) -> Option<Arc<Grant>> {
        self.keys.get(secret_id).map(|e| Arc::clone(&e.grant))
    }

    /// Whether `secret_id` belongs to this config.
    pub fn knows(&self, secret_id: &str) -> bool {
        self.keys.contains_key(secret_id)
    }

    /// Decides a request by `grant`: an explicit deny wins; no allow means deny; the root
    /// account may do everything on its own resources; another account's resource needs an
    /// allow that names it (in the caller's policies) AND an allow in the owner's
    /// `account_policies` whose principal names the caller or its account.
    pub fn authorize(&self, grant: &Grant, request: &AccessRequest<'_>) -> Decision {
        let resource = request.resource;
        let deny = |why: &str| {
            Decision::Deny(format!(
                "{} of account {} is not authorized to perform kms:{} on resource {} ({why}).",
                grant.identity,
                grant.account_uin,
                request.action,
                resource.qcs()
            ))
        };
        if grant.kind == IdentityKind::MessageRecipient {
            return deny("message recipients have no API access");
        }
        let own = Policy::verdict(grant.policies.iter().map(Arc::as_ref), request, &[]);
        if resource.owner_uin == grant.account_uin {
            return match (grant.kind, own) {
                (_, Verdict::Denied) => deny("an explicit deny matched"),
                (IdentityKind::Root, _) | (_, Verdict::Allowed) => Decision::Allow,
                (_, Verdict::Silent) => deny("no policy allows it"),
            };
        }
        match own {
            Verdict::Denied => return deny("an explicit deny matched"),
            Verdict::Silent => {
                return deny("no policy of the caller names this account's resource");
            }
            Verdict::Allowed => {}
        }
        let owner_policies = self
            .account_policies
            .get(&resource.owner_uin)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // The owner's policies speak of its own resources: `*` there means the owner's keys.
        let as_owner = AccessRequest {
            caller_uin: resource.owner_uin,
            ..*request
        };
        match Policy::verdict(
            owner_policies.iter().map(Arc::as_ref),
            &as_owner,
            &grant.principals,
        ) {
            Verdict::Allowed => Decision::Allow,
            Verdict::Denied => deny("the owning account denies it"),
            Verdict::Silent => deny("the owning account does not permit it"),
        }
    }
}

/// A trust entry names an identity that can call: `NAME` of the role's account, or `UIN:NAME`
/// of another (`UIN:root` for its root). Anything else could never match, silently.
fn check_trust_entry(
    entry: &str,
    role_account: u64,
    trustable: &HashMap<u64, Vec<String>>,
) -> Result<(), ConfigError> {
    let (uin, name) = match entry.split_once(':') {
        Some((uin, name)) => match uin.parse::<u64>() {
            Ok(uin) if trustable.contains_key(&uin) => (uin, name),
            _ => {
                return err(format!(
                    "trust entry {entry:?}: {uin:?} is not a defined account"
                ));
            }
        },
        None => (role_account, entry),
    };
    let known = &trustable[&uin];
    if known.iter().any(|k| k == name) {
        return Ok(());
    }
    let nearest = crate::names::nearest(name, known.iter().map(String::as_str))
        .map(|n| format!("; nearest valid name: {n:?}"))
        .unwrap_or_default();
    err(format!(
        "trust entry {entry:?} names no root, sub-user or collaborator of account {uin}{nearest}"
    ))
}

impl Role {
    /// Whether `grant` may assume this role: `trust` lists identity names of the role's
    /// account, or `UIN:NAME` for another account's identity (`UIN:root` for its root).
    pub(crate) fn trusts(&self, grant: &Grant) -> bool {
        if grant.kind == IdentityKind::Role || grant.kind == IdentityKind::MessageRecipient {
            return false;
        }
        self.trust.iter().any(|t| match t.split_once(':') {
            Some((uin, name)) => {
                uin.parse::<u64>() == Ok(grant.account_uin) && name == grant.identity
            }
            None => grant.account_uin == self.account_uin && *t == grant.identity,
        })
    }

    /// The grant of a session of this role.
    pub(crate) fn session_grant(&self, session_name: &str) -> Grant {
        Grant {
            account_uin: self.account_uin,
            identity: format!("role/{}/{session_name}", self.name),
            kind: IdentityKind::Role,
            policies: self.policies.clone(),
            principals: principal_of(self.account_uin, IdentityKind::Role, &self.name),
        }
    }
}
