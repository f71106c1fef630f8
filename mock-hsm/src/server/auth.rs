//! Request authentication: TC3-HMAC-SHA256 (the recipe is `kms_core::http::tc3`, shared with
//! the client) and the legacy v1 HmacSHA1/HmacSHA256 query signature.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use kms_core::http::tc3;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::credentials::{CredentialStore, Principal};
use crate::api::ApiError;

/// Largest accepted distance between a request's timestamp and the wall clock.
pub(crate) const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// The verified caller, unless it sent a token its keys do not have: only role sessions have
/// tokens, and a client that sends one with long-term keys expects it to be checked.
fn token_checked(
    principal: Arc<Principal>,
    token: Option<&str>,
) -> Result<Arc<Principal>, ApiError> {
    if token.is_some_and(|t| !t.is_empty()) && !principal.is_session() {
        return Err(ApiError::new(
            "AuthFailure.TokenFailure",
            "A token was sent with long-term credentials, which have none: send it with the \
             temporary credentials it belongs to, or not at all.",
        ));
    }
    Ok(principal)
}

fn signature_failure() -> ApiError {
    ApiError::new(
        "AuthFailure.SignatureFailure",
        "The provided credentials could not be validated. Please ensure your signature is correct.",
    )
}

fn wall_clock_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses a Unix-seconds timestamp and checks it against the real wall clock (never the mock
/// clock: the mock clock moves key schedules only).
fn check_timestamp(timestamp: &str, name: &str, check_skew: bool) -> Result<u64, ApiError> {
    let ts: u64 = timestamp
        .parse()
        .map_err(|_| ApiError::new("InvalidParameter", format!("{name} must be Unix seconds")))?;
    if check_skew && wall_clock_now().abs_diff(ts) > MAX_CLOCK_SKEW_SECS {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "{name} {ts} is more than {MAX_CLOCK_SKEW_SECS} seconds from the server time; check your clock."
            ),
        ));
    }
    Ok(ts)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::trim)
}

/// The host values a client may have signed (docs/kms-api.md §1.4): as sent; without a scheme;
/// without the port as well (Node signs the bare hostname).
fn host_variants(host: &str) -> Vec<&str> {
    let mut variants = vec![host];
    let no_scheme = host.split_once("://").map_or(host, |(_, rest)| rest);
    if no_scheme != host {
        variants.push(no_scheme);
    }
    // Strip a trailing :digits (not the colons inside an [IPv6] literal).
    if let Some((name, port)) = no_scheme.rsplit_once(':')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && (!name.contains(':') || name.ends_with(']'))
    {
        variants.push(name);
    }
    variants
}

/// A TC3 request, as received.
pub(crate) struct Tc3Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) raw_query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// Verifies a TC3-HMAC-SHA256 request and returns its principal.
pub(crate) fn verify_tc3(
    request: &Tc3Request<'_>,
    authorization: &str,
    store: &dyn CredentialStore,
    check_skew: bool,
) -> Result<Arc<Principal>, ApiError> {
    let auth = tc3::Authorization::parse(authorization)
        .map_err(|e| ApiError::new("AuthFailure.InvalidAuthorization", e.to_string()))?;
    // The documented minimum (docs/kms-api.md §1.4): a signature that covers neither the body's
    // type nor the host could be replayed against another endpoint or reinterpreted.
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !(signed.contains(&"content-type") && signed.contains(&"host")) {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "SignedHeaders must include content-type and host.",
        ));
    }
    let timestamp = header_str(request.headers, "x-tc-timestamp").ok_or_else(|| {
        ApiError::new(
            "MissingParameter",
            "The request is missing the X-TC-Timestamp header.",
        )
    })?;
    let ts = check_timestamp(timestamp, "X-TC-Timestamp", check_skew)?;
    let token = header_str(request.headers, "x-tc-token");
    let principal = store.lookup(&auth.secret_id, token)?;
    if tc3::utc_date(ts) != auth.date {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "The date in the Credential scope is not the UTC date of X-TC-Timestamp.",
        ));
    }

    let payload_sha256 =
        if header_str(request.headers, "x-tc-content-sha256") == Some(tc3::UNSIGNED_PAYLOAD) {
            tc3::sha256_hex(tc3::UNSIGNED_PAYLOAD.as_bytes())
        } else if request.method == "GET" {
            tc3::sha256_hex(b"")
        } else {
            tc3::sha256_hex(request.body)
        };
    let canonical_query = if request.method == "GET" {
        request.raw_query
    } else {
        ""
    };

    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    let mut values = Vec::with_capacity(names.len());
    for name in &names {
        values.push(header_str(request.headers, name).ok_or_else(signature_failure)?);
    }
    let host_at = names.iter().position(|n| *n == "host");
    let hosts = host_at.map_or_else(|| vec![""], |i| host_variants(values[i]));
    let signing_key = principal.signing_key(&auth.date, &auth.service);
    let verifies = |values: &[&str]| {
        let headers: Vec<(&str, &str)> =
            names.iter().copied().zip(values.iter().copied()).collect();
        tc3::SignedRequest {
            method: request.method,
            canonical_query,
            headers: &headers,
            signed_headers: &auth.signed_headers,
            payload_sha256: &payload_sha256,
            timestamp,
            date: &auth.date,
            service: &auth.service,
        }
        .verify_with(&signing_key, &auth.signature)
    };

    for host in hosts {
        if let Some(i) = host_at {
            values[i] = host;
        }
        // The SDKs sign the values verbatim; docs-following clients lower-case them.
        if verifies(&values) {
            return token_checked(principal, token);
        }
        if values
            .iter()
            .any(|v| v.chars().flat_map(char::to_lowercase).ne(v.chars()))
        {
            let lower: Vec<String> = values.iter().map(|v| v.to_lowercase()).collect();
            let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
            if verifies(&lower) {
                return token_checked(principal, token);
            }
        }
    }
    Err(signature_failure())
}

/// The common parameters of legacy v1 requests (not action parameters).
pub(crate) const V1_COMMON_PARAMS: &[&str] = &[
    "Action",
    "RequestClient",
    "Nonce",
    "Timestamp",
    "Version",
    "Region",
    "SecretId",
    "SignatureMethod",
    "Language",
    "Token",
    "Signature",
];

/// Verifies a legacy v1 request (`Signature` parameter) and returns its principal.
///
/// String to sign (docs/kms-api.md §1.5): `METHOD + host + path + "?" + "&".join(k=v)` over every
/// parameter but `Signature`, keys sorted then with `_` replaced by `.`, values decoded.
pub(crate) fn verify_v1(
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, Zeroizing<String>)],
    store: &dyn CredentialStore,
    check_skew: bool,
) -> Result<Arc<Principal>, ApiError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let missing = |name: &str| {
        ApiError::new(
            "MissingParameter",
            format!("The request is missing the {name} parameter."),
        )
    };
    let given = get("Signature").ok_or_else(|| missing("Signature"))?;
    let secret_id = get("SecretId").ok_or_else(|| missing("SecretId"))?;
    let timestamp = get("Timestamp").ok_or_else(|| missing("Timestamp"))?;
    get("Nonce").ok_or_else(|| missing("Nonce"))?;
    check_timestamp(timestamp, "Timestamp", check_skew)?;
    let token = get("Token");
    let principal = store.lookup(secret_id, token)?;
    let given = B64.decode(given).map_err(|_| signature_failure())?;

    let mut signed: Vec<&(String, Zeroizing<String>)> =
        params.iter().filter(|(k, _)| k != "Signature").collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut query = Zeroizing::new(String::new());
    for (i, (key, value)) in signed.iter().enumerate() {
        if i > 0 {
            query.push('&');
        }
        query.push_str(&key.replace('_', "."));
        query.push('=');
        query.push_str(value);
    }
    let key = principal.secret_key().as_bytes();
    for host in host_variants(host) {
        let string_to_sign = Zeroizing::new(format!("{method}{host}{path}?{}", query.as_str()));
        let expected: Vec<u8> = match get("SignatureMethod").unwrap_or("HmacSHA1") {
            "HmacSHA256" => {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                mac.update(string_to_sign.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            "HmacSHA1" => {
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                mac.update(string_to_sign.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            other => {
                return Err(ApiError::new(
                    "InvalidParameterValue",
                    format!("SignatureMethod {other:?} is not HmacSHA1 or HmacSHA256."),
                ));
            }
        };
        if expected.len() == given.len() && bool::from(expected.ct_eq(&given)) {
            return token_checked(principal, token);
        }
    }
    Err(signature_failure())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_variants_cover_scheme_and_port() {
        assert_eq!(
            host_variants("127.0.0.1:8573"),
            ["127.0.0.1:8573", "127.0.0.1"]
        );
        assert_eq!(
            host_variants("http://127.0.0.1:8573"),
            ["http://127.0.0.1:8573", "127.0.0.1:8573", "127.0.0.1"]
        );
        assert_eq!(
            host_variants("kms.tencentcloudapi.com"),
            ["kms.tencentcloudapi.com"]
        );
        assert_eq!(host_variants("[::1]:80"), ["[::1]:80", "[::1]"]);
        assert_eq!(host_variants("::1"), ["::1"]);
    }
}
