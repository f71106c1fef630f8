//! Policy conditions (docs/cam.md): the operators, condition keys and values a statement may
//! test, parsed once and evaluated per request, plus the globs and times they use.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::policy::{AccessRequest, PolicyError, fail, string_or_list};

/// Prefix of the resource-tag condition keys.
const TAG_KEY_PREFIX: &str = "qcs:resource_tag/";

/// Prefix of the encryption-context condition keys.
const CONTEXT_KEY_PREFIX: &str = "kms:encryption_context/";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operator {
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
    pub(super) fn parse(name: &str) -> Option<Self> {
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
pub(super) enum ConditionKey {
    SourceIp,
    CurrentTime,
    ResourceTag(String),
    EncryptionContext(String),
}

impl ConditionKey {
    pub(super) fn parse(name: &str) -> Option<Self> {
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
pub(super) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(super) fn parse(text: &str) -> Option<Self> {
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
pub(super) enum Values {
    Strings(Vec<String>),
    Networks(Vec<Cidr>),
    Times(Vec<u64>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Condition {
    operator: Operator,
    key: ConditionKey,
    values: Values,
}

pub(super) fn parse_conditions(
    value: &Value,
    at: Option<usize>,
) -> Result<Vec<Condition>, PolicyError> {
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

pub(super) fn parse_condition_keys(
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
pub(super) fn glob(pattern: &str, text: &str) -> bool {
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
pub(super) struct LazyContext<'a> {
    pub(super) owner: String,
    pub(super) name: String,
    raw: Option<&'a str>,
    parsed: Option<BTreeMap<String, String>>,
}

impl<'a> LazyContext<'a> {
    pub(super) fn new(request: &AccessRequest<'a>) -> Self {
        Self {
            owner: format!("uin/{}", request.resource.owner_uin),
            name: format!("key/{}", request.resource.key_id.as_deref().unwrap_or("*")),
            raw: request.encryption_context,
            parsed: None,
        }
    }

    pub(super) fn get(&mut self, key: &str) -> Option<&str> {
        let raw = self.raw?;
        let parsed = self
            .parsed
            .get_or_insert_with(|| serde_json::from_str(raw).unwrap_or_default());
        parsed.get(key).map(String::as_str)
    }
}

impl Condition {
    pub(super) fn holds(&self, request: &AccessRequest<'_>, context: &mut LazyContext<'_>) -> bool {
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
}
