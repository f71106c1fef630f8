//! TC3-HMAC-SHA256, the Tencent Cloud API 3.0 request signature, shared by the client (which
//! signs) and `tkms serve` (which verifies), so both follow one recipe.
//!
//! The recipe (docs/kms-api.md §1.4, docs/serve.md "Signatures"):
//!
//! ```text
//! CanonicalRequest = Method "\n" "/" "\n" CanonicalQuery "\n" CanonicalHeaders "\n"
//!                    SignedHeaders "\n" hex(sha256(payload))
//! StringToSign     = "TC3-HMAC-SHA256" "\n" Timestamp "\n" Date "/" Service "/tc3_request" "\n"
//!                    hex(sha256(CanonicalRequest))
//! kSigning         = HMAC(HMAC(HMAC("TC3" + SecretKey, Date), Service), "tc3_request")
//! Signature        = hex(HMAC(kSigning, StringToSign))
//! ```

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The algorithm name at the start of the Authorization header and the string to sign.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The last element of the credential scope.
pub const SCOPE_TERMINATOR: &str = "tc3_request";
/// The `X-TC-Content-SHA256` value that replaces the body hash with the hash of this string.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The headers the official SDKs sign.
pub const SDK_SIGNED_HEADERS: &str = "content-type;host";

type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The UTC calendar date (`YYYY-MM-DD`) of a Unix timestamp: the date of the credential scope.
pub fn utc_date(unix_secs: u64) -> String {
    let (year, month, day) = civil_date(unix_secs);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A Unix timestamp as RFC 3339 UTC (`2026-11-29T05:00:00Z`), as the CLI and the audit trail show it.
pub fn utc_datetime(unix_secs: u64) -> String {
    let (year, month, day) = civil_date(unix_secs);
    let secs = unix_secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (year, month, day) of a Unix timestamp: Howard Hinnant's days-to-civil algorithm for the
/// proleptic Gregorian calendar.
fn civil_date(unix_secs: u64) -> (i64, i64, i64) {
    let days = (unix_secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Everything a TC3 signature covers, borrowed from the request.
#[derive(Clone, Debug)]
pub struct SignedRequest<'a> {
    /// `POST` or `GET`.
    pub method: &'a str,
    /// The raw query string as on the wire (no `?`); empty for POST.
    pub canonical_query: &'a str,
    /// The signed headers in `signed_headers` order, names lower-case, values as they go in the
    /// canonical request (already trimmed; lower-cased or not, as the caller chooses).
    pub headers: &'a [(&'a str, &'a str)],
    /// The `SignedHeaders` list, e.g. `content-type;host`.
    pub signed_headers: &'a str,
    /// Lower-case hex SHA-256 of the payload (the raw body, `""` for GET, or
    /// [`UNSIGNED_PAYLOAD`]).
    pub payload_sha256: &'a str,
    /// `X-TC-Timestamp` exactly as sent.
    pub timestamp: &'a str,
    /// The credential-scope date, `YYYY-MM-DD`.
    pub date: &'a str,
    /// The credential-scope service, e.g. `kms`.
    pub service: &'a str,
}

impl SignedRequest<'_> {
    /// Feeds the canonical request to `sink` piece by piece (hashing it needs no copy).
    fn write_canonical_request(&self, mut sink: impl FnMut(&[u8])) {
        for part in [self.method, "\n/\n", self.canonical_query, "\n"] {
            sink(part.as_bytes());
        }
        for (name, value) in self.headers {
            for part in [*name, ":", *value, "\n"] {
                sink(part.as_bytes());
            }
        }
        for part in ["\n", self.signed_headers, "\n", self.payload_sha256] {
            sink(part.as_bytes());
        }
    }

    /// The canonical request.
    pub fn canonical_request(&self) -> String {
        let mut out = Vec::new();
        self.write_canonical_request(|part| out.extend_from_slice(part));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Feeds the string to sign to `sink`.
    fn write_string_to_sign(&self, mut sink: impl FnMut(&[u8])) {
        let mut hasher = Sha256::new();
        self.write_canonical_request(|part| hasher.update(part));
        let mut digest_hex = [0u8; 64];
        hex::encode_to_slice(hasher.finalize(), &mut digest_hex)
            .expect("64 hex digits for 32 bytes");
        let scope = [self.date, "/", self.service, "/", SCOPE_TERMINATOR, "\n"];
        for part in [ALGORITHM, "\n", self.timestamp, "\n"]
            .into_iter()
            .chain(scope)
        {
            sink(part.as_bytes());
        }
        sink(&digest_hex);
    }

    /// The string to sign.
    pub fn string_to_sign(&self) -> String {
        let mut out = Vec::new();
        self.write_string_to_sign(|part| out.extend_from_slice(part));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The signature as lower-case hex digits.
    fn signature_hex(&self, key: &SigningKey) -> [u8; 64] {
        let mut mac =
            HmacSha256::new_from_slice(&*key.key).expect("HMAC accepts keys of any length");
        self.write_string_to_sign(|part| mac.update(part));
        let mut out = [0u8; 64];
        hex::encode_to_slice(mac.finalize().into_bytes(), &mut out)
            .expect("64 hex digits for 32 bytes");
        out
    }

    /// The lower-case hex signature with `secret_key`.
    pub fn signature(&self, secret_key: &str) -> String {
        self.signature_with(&SigningKey::derive(secret_key, self.date, self.service))
    }

    /// The signature with a derived key, which must be of this request's date and service.
    pub fn signature_with(&self, key: &SigningKey) -> String {
        String::from_utf8_lossy(&self.signature_hex(key)).into_owned()
    }

    /// True when `signature` (hex, as sent) is the signature with `secret_key`; the comparison is
    /// constant-time.
    pub fn verify(&self, secret_key: &str, signature: &str) -> bool {
        self.verify_with(
            &SigningKey::derive(secret_key, self.date, self.service),
            signature,
        )
    }

    /// [`SignedRequest::verify`] with a derived key, which must be of this request's date and
    /// service (see [`SigningKey::is_for`]).
    pub fn verify_with(&self, key: &SigningKey, signature: &str) -> bool {
        let expected = self.signature_hex(key);
        expected.len() == signature.len() && bool::from(expected.ct_eq(signature.as_bytes()))
    }
}

/// `kSigning`: the key a SecretKey signs with on one date for one service. Deriving it takes
/// three HMACs, so a verifier that sees many requests may keep it for the day.
pub struct SigningKey {
    date: String,
    service: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("date", &self.date)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// `HMAC(HMAC(HMAC("TC3" + secret_key, date), service), "tc3_request")`.
    pub fn derive(secret_key: &str, date: &str, service: &str) -> Self {
        let mut key = Zeroizing::new(Vec::with_capacity(3 + secret_key.len()));
        key.extend_from_slice(b"TC3");
        key.extend_from_slice(secret_key.as_bytes());
        let k_date = hmac_sha256(&key, date.as_bytes());
        let k_service = hmac_sha256(&*k_date, service.as_bytes());
        Self {
            date: date.to_owned(),
            service: service.to_owned(),
            key: hmac_sha256(&*k_service, SCOPE_TERMINATOR.as_bytes()),
        }
    }

    /// True when this key signs for `date` and `service`.
    pub fn is_for(&self, date: &str, service: &str) -> bool {
        self.date == date && self.service == service
    }
}

/// The parts of a `TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The SecretId.
    pub secret_id: String,
    /// The credential-scope date, `YYYY-MM-DD`.
    pub date: String,
    /// The credential-scope service.
    pub service: String,
    /// `SignedHeaders`, lower-case names separated by `;`.
    pub signed_headers: String,
    /// The signature, hex.
    pub signature: String,
}

/// Why an Authorization header could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed TC3 Authorization header: {0}")]
pub struct AuthorizationError(&'static str);

impl Authorization {
    /// Parses the header value.
    pub fn parse(header: &str) -> Result<Self, AuthorizationError> {
        let rest = header
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(AuthorizationError(
                "it does not start with `TC3-HMAC-SHA256 `",
            ))?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            let (name, value) = part
                .split_once('=')
                .ok_or(AuthorizationError("a part is not name=value"))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return Err(AuthorizationError("unknown part")),
            };
            if slot.replace(value).is_some() {
                return Err(AuthorizationError("a part is repeated"));
            }
        }
        let credential = credential.ok_or(AuthorizationError("no Credential"))?;
        let signed_headers = signed_headers.ok_or(AuthorizationError("no SignedHeaders"))?;
        let signature = signature.ok_or(AuthorizationError("no Signature"))?;
        let mut scope = credential.split('/');
        let (Some(secret_id), Some(date), Some(service), Some(SCOPE_TERMINATOR), None) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        ) else {
            return Err(AuthorizationError(
                "Credential is not SecretId/Date/Service/tc3_request",
            ));
        };
        let date_ok = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if secret_id.is_empty() || service.is_empty() || !date_ok {
            return Err(AuthorizationError(
                "Credential has an empty SecretId or service, or a bad date",
            ));
        }
        let headers_ok = !signed_headers.is_empty()
            && signed_headers.split(';').all(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if !headers_ok {
            return Err(AuthorizationError(
                "SignedHeaders is not a ;-list of lower-case header names",
            ));
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthorizationError("Signature is not 64 hex digits"));
        }
        Ok(Self {
            secret_id: secret_id.to_owned(),
            date: date.to_owned(),
            service: service.to_owned(),
            signed_headers: signed_headers.to_owned(),
            signature: signature.to_owned(),
        })
    }

    /// The header value, in the SDKs' layout (`", "` between the parts).
    pub fn header_value(&self) -> String {
        format!(
            "{ALGORITHM} Credential={}/{}/{}/{SCOPE_TERMINATOR}, SignedHeaders={}, Signature={}",
            self.secret_id, self.date, self.service, self.signed_headers, self.signature
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_795_925_099), "2026-11-29");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_709_251_199), "2024-02-29");
        assert_eq!(utc_date(1_709_251_200), "2024-03-01");
        assert_eq!(utc_datetime(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(utc_datetime(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(utc_datetime(86_399), "1970-01-01T23:59:59Z");
    }

    #[test]
    fn authorization_round_trips_and_rejects_junk() {
        let header = "TC3-HMAC-SHA256 Credential=AKID/2026-11-29/kms/tc3_request, SignedHeaders=content-type;host, Signature=55a699543413715074fc9bfce6b4b62dde88d26c8b8ece7e0172efacbeffb860";
        let auth = Authorization::parse(header).expect("valid header");
        assert_eq!(auth.secret_id, "AKID");
        assert_eq!(auth.service, "kms");
        assert_eq!(auth.header_value(), header);
        for bad in [
            "",
            "TC3-HMAC-SHA256",
            "HMAC-SHA256 Credential=AKID/2026-11-29/kms/tc3_request, SignedHeaders=host, Signature=00",
            "TC3-HMAC-SHA256 Credential=AKID/2026-11-29/kms, SignedHeaders=host, Signature=55a699543413715074fc9bfce6b4b62dde88d26c8b8ece7e0172efacbeffb860",
            "TC3-HMAC-SHA256 Credential=AKID/2026-11-29/kms/tc3_request, SignedHeaders=Host, Signature=55a699543413715074fc9bfce6b4b62dde88d26c8b8ece7e0172efacbeffb860",
            "TC3-HMAC-SHA256 Credential=AKID/2026-11-29/kms/tc3_request, SignedHeaders=host, Signature=xyz",
            "TC3-HMAC-SHA256 Credential=AKID/26-11-29/kms/tc3_request, SignedHeaders=host, Signature=55a699543413715074fc9bfce6b4b62dde88d26c8b8ece7e0172efacbeffb860",
        ] {
            assert!(Authorization::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
