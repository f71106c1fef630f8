#![allow(clippy::unwrap_used)]
//! The CAM policy suite as data: every `tests/data/cam/*.toml` (format in its README.md) is a
//! config plus requests with the expected decision.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use mock_hsm::{AccessRequest, CamConfig, Decision, KeyResource, Sessions};
use serde::Deserialize;

const DEFAULT_REGION: &str = "ap-guangzhou";
/// `now` for cases that give none: inside every date window the files use only when they say so.
const DEFAULT_NOW: u64 = 1_767_225_600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    config: String,
    load_error: Option<String>,
    load_error_excludes: Option<String>,
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    caller: Option<String>,
    assume: Option<Assume>,
    #[serde(default)]
    wrong_token: bool,
    issued: Option<u64>,
    action: String,
    region: Option<String>,
    key: Option<Key>,
    ip: Option<IpAddr>,
    now: Option<toml::Value>,
    context: Option<String>,
    expect: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assume {
    caller: String,
    role_arn: String,
    duration: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    id: String,
    owner: u64,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

fn time_of(value: &toml::Value) -> u64 {
    match value {
        toml::Value::Integer(i) => u64::try_from(*i).expect("a non-negative time"),
        toml::Value::String(s) => rfc3339(s),
        toml::Value::Datetime(d) => rfc3339(&d.to_string()),
        other => panic!("bad time {other:?}"),
    }
}

/// An RFC 3339 reader of its own (whole seconds, `Z` or `+HH:MM`), so a bug in the
/// service's parser cannot hide behind the same code.
fn rfc3339(text: &str) -> u64 {
    let (date, time) = text.split_once(['T', ' ']).expect("RFC 3339");
    let mut d = date.split('-').map(|p| p.parse::<i64>().expect("digits"));
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-']).expect("offset");
        let (c, o) = time.split_at(at);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (h, mi) = o[1..].split_once(':').expect("HH:MM");
        (
            c,
            sign * (h.parse::<i64>().unwrap() * 3600 + mi.parse::<i64>().unwrap() * 60),
        )
    };
    let mut t = clock.split(':').map(|p| p.parse::<i64>().expect("digits"));
    let (h, mi, s) = (t.next().unwrap(), t.next().unwrap(), t.next().unwrap());
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s - offset).expect("after 1970")
}

fn run_case(file: &Path, config: &CamConfig, case: &Case) -> String {
    let sessions = Sessions::new();
    let now = case.now.as_ref().map_or(DEFAULT_NOW, time_of);
    let grant = match (&case.caller, &case.assume) {
        (Some(caller), None) => config
            .grant(caller)
            .unwrap_or_else(|| panic!("{}: {}: unknown caller", file.display(), case.name)),
        (None, Some(assume)) => {
            let caller = config.grant(&assume.caller).expect("known caller");
            let issued = case.issued.unwrap_or(now);
            let creds = match sessions.assume_role(
                config,
                &caller,
                &assume.role_arn,
                "case",
                assume.duration,
                issued,
            ) {
                Ok(c) => c,
                Err(e) => return e.code,
            };
            let token = if case.wrong_token {
                "x".repeat(creds.token.len())
            } else {
                creds.token.to_string()
            };
            match sessions
                .lookup(config, &creds.tmp_secret_id, Some(&token), now)
                .expect("a session id")
            {
                Ok((_, grant)) => grant,
                Err(e) => return e.code,
            }
        }
        _ => panic!("{}: {}: give caller or assume", file.display(), case.name),
    };
    let region = case.region.as_deref().unwrap_or(DEFAULT_REGION);
    let resource = match &case.key {
        Some(k) => KeyResource {
            key_id: Some(k.id.clone()),
            region: region.to_owned(),
            owner_uin: k.owner,
            tags: k.tags.clone().into_iter().collect(),
        },
        None => KeyResource {
            key_id: None,
            region: region.to_owned(),
            owner_uin: grant.account_uin,
            tags: Vec::new(),
        },
    };
    let request = AccessRequest {
        action: &case.action,
        caller_uin: grant.account_uin,
        resource: &resource,
        source_ip: case.ip,
        now,
        encryption_context: case.context.as_deref(),
    };
    match config.authorize(&grant, &request) {
        Decision::Allow => "allow".into(),
        Decision::Deny(message) => {
            // The message names the action and the resource.
            assert!(
                message.contains(&format!("kms:{}", case.action))
                    && message.contains(&resource.qcs()),
                "{}: {}: {message}",
                file.display(),
                case.name
            );
            "deny".into()
        }
    }
}

#[test]
fn policy_cases_as_data() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cam");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/cam")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let (mut cases, mut load_errors, mut failures) = (0, 0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let data: File =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        match (CamConfig::parse(&data.config), &data.load_error) {
            (Err(e), Some(expected)) => {
                let message = e.to_string();
                assert!(
                    message.contains(expected.as_str()),
                    "{}: refused with {message:?}, expected {expected:?}",
                    file.display()
                );
                if let Some(secret) = &data.load_error_excludes {
                    assert!(
                        !message.contains(secret.as_str()),
                        "{}: {message}",
                        file.display()
                    );
                }
                load_errors += 1;
            }
            (Ok(_), Some(expected)) => {
                panic!("{}: loaded, expected refusal {expected:?}", file.display())
            }
            (Err(e), None) => panic!("{}: {e}", file.display()),
            (Ok(config), None) => {
                assert!(!data.case.is_empty(), "{}: no cases", file.display());
                for case in &data.case {
                    let got = run_case(file, &config, case);
                    if got != case.expect {
                        failures.push(format!(
                            "{}: {}: got {got}, expected {}",
                            file.display(),
                            case.name,
                            case.expect
                        ));
                    }
                    cases += 1;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        cases >= 50 && load_errors >= 9,
        "{cases} cases, {load_errors} load errors"
    );
}
