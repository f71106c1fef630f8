//! Temporary credentials from `sts:AssumeRole`: held in memory only, judged on the service
//! clock (the mock clock under test controls), resolved against the current config on every
//! call so a reload that removes the role ends its sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::config::{CamConfig, DEFAULT_SESSION_SECONDS, Grant};
use crate::api::ApiError;

/// Shortest session (CAM: 15 minutes is the floor for DurationSeconds; tkms allows shorter
/// sessions only down to this so tests can watch one expire).
const MIN_SESSION_SECONDS: u64 = 1;
/// How long an expired session is remembered, so its callers hear "expired" rather than
/// "unknown SecretId".
const EXPIRED_GRACE_SECONDS: u64 = 86_400;
/// Most live sessions kept; the oldest expired ones go first.
const MAX_SESSIONS: usize = 100_000;

/// A live session's SecretKey and the grant it acts under.
pub type SessionKey = (Zeroizing<String>, Arc<Grant>);

/// Credentials issued by `AssumeRole`.
pub struct TempCredentials {
    /// `TmpSecretId`.
    pub tmp_secret_id: String,
    /// `TmpSecretKey`.
    pub tmp_secret_key: Zeroizing<String>,
    /// `Token` (sent back as `X-TC-Token`).
    pub token: Zeroizing<String>,
    /// `ExpiredTime`, Unix seconds.
    pub expired_time: u64,
}

impl std::fmt::Debug for TempCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempCredentials")
            .field("tmp_secret_id", &self.tmp_secret_id)
            .field("expired_time", &self.expired_time)
            .finish_non_exhaustive()
    }
}

struct Session {
    account_uin: u64,
    role: String,
    session_name: String,
    secret_key: Zeroizing<String>,
    token: Zeroizing<String>,
    expires: u64,
}

/// The live role sessions.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

fn random_alphanumeric(len: usize) -> Result<Zeroizing<String>, ApiError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut pool = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        getrandom::fill(&mut *pool)
            .map_err(|e| ApiError::new("InternalError", format!("no randomness: {e}")))?;
        // 248 = 4 * 62: rejection sampling keeps every character equally likely.
        for &b in pool.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

fn token_failure(message: &str) -> ApiError {
    ApiError::new("AuthFailure.TokenFailure", message)
}

impl Sessions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `sts:AssumeRole`: `role_arn` is `qcs::cam::uin/UIN:roleName/NAME`; the caller must be
    /// in the role's `trust` list; `duration` defaults to 7200 s and is capped by the role.
    pub fn assume_role(
        &self,
        config: &CamConfig,
        caller: &Grant,
        role_arn: &str,
        session_name: &str,
        duration: Option<u64>,
        now: u64,
    ) -> Result<TempCredentials, ApiError> {
        let parsed = role_arn
            .strip_prefix("qcs::cam::uin/")
            .and_then(|rest| rest.split_once(":roleName/"))
            .and_then(|(uin, name)| Some((uin.parse::<u64>().ok()?, name)));
        let Some((uin, name)) = parsed else {
            return Err(ApiError::new(
                "InvalidParameterValue",
                format!("RoleArn {role_arn:?} is not qcs::cam::uin/UIN:roleName/NAME."),
            ));
        };
        if session_name.is_empty()
            || session_name.len() > 128
            || !session_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        {
            return Err(ApiError::new(
                "InvalidParameterValue",
                "RoleSessionName must be 1-128 characters of letters, digits and _+=,.@-.",
            ));
        }
        let role = config
            .roles
            .get(&(uin, name.to_owned()))
            .ok_or_else(|| ApiError::new("ResourceNotFound", format!("No role {role_arn}.")))?;
        if !role.trusts(caller) {
            return Err(ApiError::new(
                "UnauthorizedOperation",
                format!(
                    "{} of account {} may not assume {role_arn}.",
                    caller.identity, caller.account_uin
                ),
            ));
        }
        let duration = duration.unwrap_or(DEFAULT_SESSION_SECONDS.min(role.max_session_seconds));
        if !(MIN_SESSION_SECONDS..=role.max_session_seconds).contains(&duration) {
            return Err(ApiError::new(
                "InvalidParameterValue",
                format!(
                    "DurationSeconds must be {MIN_SESSION_SECONDS}..={} for this role.",
                    role.max_session_seconds
                ),
            ));
        }
        let tmp_secret_id = format!("AKID{}", random_alphanumeric(32)?.as_str());
        let credentials = TempCredentials {
            tmp_secret_id: tmp_secret_id.clone(),
            tmp_secret_key: random_alphanumeric(32)?,
            token: random_alphanumeric(64)?,
            expired_time: now.saturating_add(duration),
        };
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS {
                return Err(ApiError::new(
                    "LimitExceeded",
                    "Too many live role sessions.",
                ));
            }
        }
        sessions.insert(
            tmp_secret_id,
            Session {
                account_uin: uin,
                role: name.to_owned(),
                session_name: session_name.to_owned(),
                secret_key: credentials.tmp_secret_key.clone(),
                token: credentials.token.clone(),
                expires: credentials.expired_time,
            },
        );
        Ok(credentials)
    }

    /// `None` when `secret_id` is not a session's; else its SecretKey and grant, or
    /// `AuthFailure.TokenFailure` for a missing, wrong or expired token or a removed role.
    pub fn lookup(
        &self,
        config: &CamConfig,
        secret_id: &str,
        token: Option<&str>,
        now: u64,
    ) -> Option<Result<SessionKey, ApiError>> {
        let sessions = self.lock();
        let session = sessions.get(secret_id)?;
        let token_ok = token.is_some_and(|t| {
            t.len() == session.token.len()
                && bool::from(t.as_bytes().ct_eq(session.token.as_bytes()))
        });
        Some(if !token_ok {
            Err(token_failure(
                "The X-TC-Token is missing or does not belong to these temporary credentials.",
            ))
        } else if now >= session.expires {
            Err(token_failure("The temporary credentials have expired."))
        } else {
            match config
                .roles
                .get(&(session.account_uin, session.role.clone()))
            {
                Some(role) => Ok((
                    session.secret_key.clone(),
                    Arc::new(role.session_grant(&session.session_name)),
                )),
                None => Err(token_failure("The role of this session no longer exists.")),
            }
        })
    }

    /// The account and identity (`role/NAME/SESSION`) of a session, without any check: to
    /// audit failed authentications.
    pub fn identify(&self, secret_id: &str) -> Option<(u64, String)> {
        self.lock()
            .get(secret_id)
            .map(|s| (s.account_uin, format!("role/{}/{}", s.role, s.session_name)))
    }

    /// Forgets sessions expired for more than a day.
    pub fn purge_expired(&self, now: u64) {
        self.lock()
            .retain(|_, s| s.expires.saturating_add(EXPIRED_GRACE_SECONDS) > now);
    }
}
