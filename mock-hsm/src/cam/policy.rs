//! The CAM policy language (docs/cam.md): parse once at config load, refusing anything tkms
//! does not understand (fail closed), then evaluate per request without allocating.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

/// The only policy version CAM defines.
const POLICY_VERSION: &str = "2.0";
/// Longest policy document accepted (CAM's own limit is 6144 characters).
const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Prefix of the resource-tag condition keys.
const TAG_KEY_PREFIX: &str = "qcs:resource_tag/";
/// Prefix of the encryption-context condition keys.
const CONTEXT_KEY_PREFIX: &str = "kms:encryption_context/";

/// Why a policy was refused. `statement` is the 0-based index of the offending statement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", statement.map(|i| format!("statement {i}: ")).unwrap_or_default())]
pub struct PolicyError {
    /// The statement at fault, when the fault is inside one.
    pub statement: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn fail<T>(statement: Option<usize>, message: impl Into<String>) -> Result<T, PolicyError> {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    StringEqual,
    StringNotEqual,
    StringLike,
    ForAnyValueStringEqual,
    IpEqual,
    IpNotEqual,
    DateLessThan,
    DateGreaterThan,
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string_equal" => Self::StringEqual,
            "string_not_equal" => Self::StringNotEqual,
            "string_like" => Self::StringLike,
            "for_any_value:string_equal" => Self::ForAnyValueStringEqual,
            "ip_equal" => Self::IpEqual,
            "ip_not_equal" => Self::IpNotEqual,
            "date_less_than" => Self::DateLessThan,
            "date_greater_than" => Self::DateGreaterThan,
            _ => return None,
        })
    }

    /// Negated operators hold when the request has no value for the key (as in AWS IAM).
    fn negated(self) -> bool {
        matches!(self, Self::StringNotEqual | Self::IpNotEqual)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ConditionKey {
    SourceIp,
    CurrentTime,
    ResourceTag(String),
    EncryptionContext(String),
}

impl ConditionKey {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "qcs:ip" => Some(Self::SourceIp),
            "qcs:current_time" => Some(Self::CurrentTime),
            _ => {
                if let Some(tag) = name.strip_prefix(TAG_KEY_PREFIX).filter(|t| !t.is_empty()) {
                    Some(Self::ResourceTag(tag.to_owned()))
                } else {
                    name.strip_prefix(CONTEXT_KEY_PREFIX)
                        .filter(|k| !k.is_empty())
                        .map(|k| Self::EncryptionContext(k.to_owned()))
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Values {
    Strings(Vec<String>),
    Networks(Vec<Cidr>),
    Times(Vec<u64>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Condition {
    operator: Operator,
    key: ConditionKey,
    values: Values,
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

fn string_or_list(
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
                    if a != "*" && !a.starts_with("kms:") {
                        return fail(at, format!("action {a:?} is not kms:NAME or *"));
                    }
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
    let account = segments[4];
    if !(account.is_empty() || account == "*" || account.starts_with("uin/")) {
        return fail(
            at,
            format!("resource {text:?}: account must be uin/UIN or *"),
        );
    }
    Ok(ResourcePattern::Qcs {
        service: segments[2].to_owned(),
        region: segments[3].to_owned(),
        account: account.to_owned(),
        resource: segments[5].to_owned(),
    })
}

fn parse_conditions(value: &Value, at: Option<usize>) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = value else {
        return fail(at, "condition must be an object of operators");
    };
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let operator = Operator::parse(op_name).ok_or_else(|| PolicyError {
            statement: at,
            message: format!("unknown condition operator {op_name:?}"),
        })?;
        let Value::Object(keys) = keys else {
            return fail(at, format!("{op_name} must map condition keys to values"));
        };
        out.extend(parse_condition_keys(operator, op_name, keys, at)?);
    }
    Ok(out)
}

fn parse_condition_keys(
    operator: Operator,
    op_name: &str,
    keys: &Map<String, Value>,
    at: Option<usize>,
) -> Result<Vec<Condition>, PolicyError> {
    let mut out = Vec::new();
    for (key_name, raw) in keys {
        let key = ConditionKey::parse(key_name).ok_or_else(|| PolicyError {
            statement: at,
            message: format!("unknown condition key {key_name:?}"),
        })?;
        let strings = string_or_list(raw, &format!("{op_name} {key_name}"), at)?;
        let values = match operator {
            Operator::IpEqual | Operator::IpNotEqual => {
                if key != ConditionKey::SourceIp {
                    return fail(at, format!("{op_name} applies to qcs:ip only"));
                }
                Values::Networks(
                    strings
                        .iter()
                        .map(|s| {
                            Cidr::parse(s).ok_or_else(|| PolicyError {
                                statement: at,
                                message: format!("{s:?} is not an IP address or CIDR"),
                            })
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            Operator::DateLessThan | Operator::DateGreaterThan => {
                if key != ConditionKey::CurrentTime {
                    return fail(at, format!("{op_name} applies to qcs:current_time only"));
                }
                Values::Times(
                    strings
                        .iter()
                        .map(|s| {
                            parse_time(s).ok_or_else(|| PolicyError {
                                statement: at,
                                message: format!(
                                    "{s:?} is not a time (RFC 3339 such as 2026-01-01T00:00:00Z, or Unix seconds)"
                                ),
                            })
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            _ => {
                if matches!(key, ConditionKey::SourceIp | ConditionKey::CurrentTime) {
                    return fail(at, format!("{op_name} does not apply to {key_name}"));
                }
                Values::Strings(strings)
            }
        };
        out.push(Condition {
            operator,
            key,
            values,
        });
    }
    Ok(out)
}

/// Unix seconds of an RFC 3339 time (`2026-01-01T00:00:00Z`, `+08:00` offsets, optional
/// fraction) or of a plain number of seconds: the times policies (and `tkms audit`) accept.
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

/// `*` matches any run, `?` one character; everything else literally.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// What every statement compares against, rendered once per decision: the resource's account
/// and name segments, and the encryption context (parsed only if a condition asks for it).
struct LazyContext<'a> {
    owner: String,
    name: String,
    raw: Option<&'a str>,
    parsed: Option<BTreeMap<String, String>>,
}

impl<'a> LazyContext<'a> {
    fn new(request: &AccessRequest<'a>) -> Self {
        Self {
            owner: format!("uin/{}", request.resource.owner_uin),
            name: format!("key/{}", request.resource.key_id.as_deref().unwrap_or("*")),
            raw: request.encryption_context,
            parsed: None,
        }
    }

    fn get(&mut self, key: &str) -> Option<&str> {
        let raw = self.raw?;
        let parsed = self
            .parsed
            .get_or_insert_with(|| serde_json::from_str(raw).unwrap_or_default());
        parsed.get(key).map(String::as_str)
    }
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

impl Condition {
    fn holds(&self, request: &AccessRequest<'_>, context: &mut LazyContext<'_>) -> bool {
        let found = match &self.values {
            Values::Networks(nets) => request
                .source_ip
                .map(|ip| nets.iter().any(|n| n.contains(ip))),
            Values::Times(times) => Some(times.iter().any(|t| match self.operator {
                Operator::DateLessThan => request.now < *t,
                _ => request.now > *t,
            })),
            Values::Strings(list) => {
                let actual = match &self.key {
                    ConditionKey::ResourceTag(tag) => request
                        .resource
                        .tags
                        .iter()
                        .find(|(k, _)| k == tag)
                        .map(|(_, v)| v.as_str()),
                    ConditionKey::EncryptionContext(key) => context.get(key),
                    _ => None,
                };
                actual.map(|v| match self.operator {
                    Operator::StringLike => list.iter().any(|p| glob(p, v)),
                    _ => list.iter().any(|p| p == v),
                })
            }
        };
        match (found, self.operator.negated()) {
            (Some(any), true) => !any,
            (Some(any), false) => any,
            (None, negated) => negated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_and_time() {
        assert!(glob("key/*", "key/abc"));
        assert!(glob("Describe*", "DescribeKeys"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(!glob("Encrypt", "EncryptByWhiteBox"));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T08:00:00+08:00"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T00:00:00.5Z"), Some(1_767_225_600));
        assert_eq!(parse_time("1767225600"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn cidr() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(
            Cidr::parse("::1/128")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
    }

    #[test]
    fn refusals_name_the_statement() {
        let bad = r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"*"},{"effect":"allow","action":"kms:*","resource":"*","condition":{"numeric_equal":{"qcs:ip":"1"}}}]}"#;
        let e = Policy::parse(bad).unwrap_err();
        assert_eq!(e.statement, Some(1));
        assert!(e.message.contains("numeric_equal"), "{e}");
    }
}
