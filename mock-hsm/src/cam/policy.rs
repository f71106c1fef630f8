//! The CAM policy language (docs/cam.md): parse once at config load, refusing anything tkms
//! does not understand (fail closed), then evaluate per request without allocating.

use std::net::IpAddr;

use serde_json::Value;

use super::condition::{Condition, LazyContext, glob, parse_conditions};

use crate::names;

/// The only policy version CAM defines.
const POLICY_VERSION: &str = "2.0";
/// Longest policy document accepted (CAM's own limit is 6144 characters).
const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Why a policy was refused. `statement` is the 0-based index of the offending statement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", statement.map(|i| format!("statement {i}: ")).unwrap_or_default())]
pub struct PolicyError {
    /// The statement at fault, when the fault is inside one.
    pub statement: Option<usize>,
    /// What is wrong.
    pub message: String,
}

pub(super) fn fail<T>(
    statement: Option<usize>,
    message: impl Into<String>,
) -> Result<T, PolicyError> {
    Err(PolicyError {
        statement,
        message: message.into(),
    })
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// A resource pattern: `*`, or six `:`-separated segments
/// `qcs:project_id:service_type:region:account:resource`, each a glob.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ResourcePattern {
    Any,
    Qcs {
        service: String,
        region: String,
        account: String,
        resource: String,
    },
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    actions: Vec<String>,
    resources: Vec<ResourcePattern>,
    conditions: Vec<Condition>,
    /// `principal.qcs`: only in account (resource) policies.
    pub(crate) principals: Option<Vec<String>>,
}

/// A parsed CAM policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(crate) statements: Vec<Statement>,
}

/// The resource a request acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyResource {
    /// The key id, or `None` for actions without a key (`key/*`).
    pub key_id: Option<String>,
    /// The region of the key (or of the request).
    pub region: String,
    /// The uin of the account that owns the key (or the caller's, without a key).
    pub owner_uin: u64,
    /// The key's tags.
    pub tags: Vec<(String, String)>,
}

impl KeyResource {
    /// `qcs::kms:REGION:uin/OWNER:key/ID` (or `key/*`).
    pub fn qcs(&self) -> String {
        format!(
            "qcs::kms:{}:uin/{}:key/{}",
            self.region,
            self.owner_uin,
            self.key_id.as_deref().unwrap_or("*")
        )
    }
}

/// One request as the evaluator sees it.
#[derive(Clone, Copy, Debug)]
pub struct AccessRequest<'a> {
    /// The KMS action without prefix (`Encrypt`).
    pub action: &'a str,
    /// The caller's account.
    pub caller_uin: u64,
    /// The resource.
    pub resource: &'a KeyResource,
    /// The caller's address.
    pub source_ip: Option<IpAddr>,
    /// Now, Unix seconds (the service clock).
    pub now: u64,
    /// The request's `EncryptionContext` (a JSON object as a string), if any.
    pub encryption_context: Option<&'a str>,
}

/// What one policy set says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A matching deny statement.
    Denied,
    /// A matching allow statement and no matching deny.
    Allowed,
    /// Nothing matched.
    Silent,
}

pub(super) fn string_or_list(
    value: &Value,
    what: &str,
    statement: Option<usize>,
) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => fail(statement, format!("{what} must be strings")),
            })
            .collect(),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => fail(
            statement,
            format!("{what} must be a string or a non-empty list of strings"),
        ),
    }
}

impl Policy {
    /// Parses a policy document, refusing unknown fields, effects, operators and keys.
    pub fn parse(document: &str) -> Result<Self, PolicyError> {
        if document.len() > MAX_POLICY_BYTES {
            return fail(None, format!("longer than {MAX_POLICY_BYTES} bytes"));
        }
        let value: Value = serde_json::from_str(document).map_err(|e| PolicyError {
            statement: None,
            message: format!("not JSON: {e}"),
        })?;
        let Value::Object(top) = value else {
            return fail(None, "a policy is a JSON object");
        };
        let mut statements = None;
        for (field, v) in &top {
            match field.as_str() {
                "version" => {
                    if v.as_str() != Some(POLICY_VERSION) {
                        return fail(None, format!("version must be \"{POLICY_VERSION}\""));
                    }
                }
                "statement" => statements = Some(v),
                other => return fail(None, format!("unknown field {other:?}")),
            }
        }
        if !top.contains_key("version") {
            return fail(None, "missing version");
        }
        let statements = match statements {
            Some(Value::Array(list)) if !list.is_empty() => list.clone(),
            Some(Value::Object(one)) => vec![Value::Object(one.clone())],
            _ => return fail(None, "statement must be a non-empty list"),
        };
        let statements = statements
            .iter()
            .enumerate()
            .map(|(i, s)| parse_statement(i, s))
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// Whether any statement carries a `principal` (account policies must; identity policies
    /// must not).
    pub(crate) fn has_principals(&self) -> Option<usize> {
        self.statements.iter().position(|s| s.principals.is_some())
    }

    /// Deny wins over allow; no match is silence.
    pub(crate) fn verdict<'p>(
        policies: impl IntoIterator<Item = &'p Policy>,
        request: &AccessRequest<'_>,
        principals: &[String],
    ) -> Verdict {
        let mut allowed = false;
        let mut context = LazyContext::new(request);
        for policy in policies {
            for statement in &policy.statements {
                if statement.effect == Effect::Allow && allowed {
                    continue;
                }
                if let Some(list) = &statement.principals
                    && !list
                        .iter()
                        .any(|p| p == "*" || principals.iter().any(|who| who == p))
                {
                    continue;
                }
                if statement.matches(request, &mut context) {
                    match statement.effect {
                        Effect::Deny => return Verdict::Denied,
                        Effect::Allow => allowed = true,
                    }
                }
            }
        }
        if allowed {
            Verdict::Allowed
        } else {
            Verdict::Silent
        }
    }
}

fn parse_statement(index: usize, value: &Value) -> Result<Statement, PolicyError> {
    let at = Some(index);
    let Value::Object(fields) = value else {
        return fail(at, "a statement is a JSON object");
    };
    let mut effect = None;
    let mut actions = None;
    let mut resources = None;
    let mut conditions = Vec::new();
    let mut principals = None;
    for (field, v) in fields {
        match field.as_str() {
            "effect" => {
                effect = Some(match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("allow") => Effect::Allow,
                    Some("deny") => Effect::Deny,
                    _ => return fail(at, "effect must be \"allow\" or \"deny\""),
                });
            }
            "action" => {
                let list = string_or_list(v, "action", at)?;
                for a in &list {
                    check_action(a, at)?;
                }
                actions = Some(list);
            }
            "resource" => {
                resources = Some(
                    string_or_list(v, "resource", at)?
                        .iter()
                        .map(|r| parse_resource(r, at))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            "condition" => conditions = parse_conditions(v, at)?,
            "principal" => principals = Some(parse_principal(v, at)?),
            other => return fail(at, format!("unknown field {other:?}")),
        }
    }
    Ok(Statement {
        effect: effect.ok_or_else(|| PolicyError {
            statement: at,
            message: "missing effect".into(),
        })?,
        actions: actions.ok_or_else(|| PolicyError {
            statement: at,
            message: "missing action".into(),
        })?,
        resources: resources.ok_or_else(|| PolicyError {
            statement: at,
            message: "missing resource".into(),
        })?,
        conditions,
        principals,
    })
}

fn parse_principal(value: &Value, at: Option<usize>) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(vec!["*".into()]),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (k, v) in map {
                if k != "qcs" {
                    return fail(at, format!("principal {k:?} is not \"qcs\""));
                }
                for p in string_or_list(v, "principal", at)? {
                    if p != "*" && !p.starts_with("qcs::cam::uin/") {
                        return fail(at, format!("principal {p:?} is not qcs::cam::uin/..."));
                    }
                    out.push(p);
                }
            }
            if out.is_empty() {
                return fail(at, "principal names nobody");
            }
            Ok(out)
        }
        _ => fail(at, "principal must be {\"qcs\": [...]} or \"*\""),
    }
}

/// An action is `*` or `kms:NAME`, NAME one of the API's actions or a glob matching at least
/// one: anything else would match no request, so a Deny naming it would protect nothing.
fn check_action(action: &str, at: Option<usize>) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let name = match action.strip_prefix("kms:") {
        Some(name) if names::ACTIONS.iter().any(|known| glob(name, known)) => return Ok(()),
        Some(name) => name,
        None => action.rsplit(':').next().unwrap_or(action),
    };
    let nearest = names::nearest(name, names::ACTIONS.iter().copied())
        .map(|n| format!("; nearest valid name: \"kms:{n}\""))
        .unwrap_or_default();
    fail(
        at,
        format!("action {action:?} is not a KMS action (kms:NAME or *){nearest}"),
    )
}

/// The resource of every KMS request is `key/ID` or `key/*` (see `LazyContext::new`).
const RESOURCE_EXAMPLE: &str = "qcs::kms:ap-guangzhou:uin/100000000001:key/*";

fn parse_resource(text: &str, at: Option<usize>) -> Result<ResourcePattern, PolicyError> {
    if text == "*" {
        return Ok(ResourcePattern::Any);
    }
    let segments: Vec<&str> = text.splitn(6, ':').collect();
    if segments.len() != 6 || segments[0] != "qcs" {
        return fail(
            at,
            format!("resource {text:?} is not qcs:project:service:region:account:resource"),
        );
    }
    let bad = |what: &str| {
        fail(
            at,
            format!("resource {text:?}: {what}; a valid one looks like {RESOURCE_EXAMPLE:?}"),
        )
    };
    let (service, region, account, resource) = (segments[2], segments[3], segments[4], segments[5]);
    if !(service.is_empty() || glob(service, "kms")) {
        return bad(&format!("service {service:?} is not kms"));
    }
    let glob_chars = |text: &str, allowed: fn(u8) -> bool| {
        text.bytes().all(|b| allowed(b) || b == b'*' || b == b'?')
    };
    if !glob_chars(region, |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
    }) {
        return bad(&format!("region {region:?} is not a region name"));
    }
    let account_ok = match account.strip_prefix("uin/") {
        Some(uin) => !uin.is_empty() && glob_chars(uin, |b| b.is_ascii_digit()),
        None => account.is_empty() || account == "*",
    };
    if !account_ok {
        return bad(&format!("account {account:?} is not uin/UIN or *"));
    }
    // Its literal part (before any wildcard) must fit `key/...`.
    let literal = &resource[..resource.find(['*', '?']).unwrap_or(resource.len())];
    if resource.is_empty() || !(literal.starts_with("key/") || "key/".starts_with(literal)) {
        return bad(&format!("resource {resource:?} is not key/ID or key/*"));
    }
    Ok(ResourcePattern::Qcs {
        service: service.to_owned(),
        region: region.to_owned(),
        account: account.to_owned(),
        resource: resource.to_owned(),
    })
}

impl Statement {
    fn matches(&self, request: &AccessRequest<'_>, context: &mut LazyContext<'_>) -> bool {
        let action_ok = self.actions.iter().any(|a| {
            a == "*"
                || a.strip_prefix("kms:")
                    .is_some_and(|name| glob(name, request.action))
        });
        action_ok
            && self.resources.iter().any(|r| r.matches(request, context))
            && self.conditions.iter().all(|c| c.holds(request, context))
    }
}

impl ResourcePattern {
    fn matches(&self, request: &AccessRequest<'_>, facts: &LazyContext<'_>) -> bool {
        let resource = request.resource;
        let cross_account = resource.owner_uin != request.caller_uin;
        match self {
            // `*` never reaches into another account: cross-account access must name it.
            Self::Any => !cross_account,
            Self::Qcs {
                service,
                region,
                account,
                resource: pattern,
            } => {
                let account_ok = if cross_account {
                    *account == facts.owner
                } else {
                    account.is_empty() || glob(account, &facts.owner)
                };
                account_ok
                    && (service.is_empty() || glob(service, "kms"))
                    && (region.is_empty() || glob(region, &resource.region))
                    && glob(pattern, &facts.name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_statement() {
        let bad = r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"*"},{"effect":"allow","action":"kms:*","resource":"*","condition":{"numeric_equal":{"qcs:ip":"1"}}}]}"#;
        let e = Policy::parse(bad).unwrap_err();
        assert_eq!(e.statement, Some(1));
        assert!(e.message.contains("numeric_equal"), "{e}");
    }
}
