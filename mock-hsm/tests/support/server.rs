//! Shared by the server_* tests: a fake KmsApi backend, raw HTTP/1.1 exchange, request signing.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kms_core::http::tc3;
use mock_hsm::{ApiError, CallContext, KmsApi, MockClock};
use serde_json::{Value, json};
use zeroize::Zeroizing;

pub const SECRET_ID: &str = "AKIDEXAMPLE0000000000000000000000000";
pub const SECRET_KEY: &str = "examplesecretkey0000000000000000";

/// A backend that echoes what it was given, and fails on cue.
#[derive(Default)]
pub struct FakeKms {
    pub calls: Mutex<Vec<(CallContext, String, Value)>>,
    pub clock: MockClock,
    pub ticks: AtomicUsize,
    pub resets: AtomicUsize,
}

impl KmsApi for FakeKms {
    fn dispatch(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let params: Value = serde_json::from_slice(params)
            .map_err(|e| ApiError::new("InvalidParameter", format!("bad JSON: {e}")))?;
        self.calls.lock().expect("not poisoned").push((
            ctx.clone(),
            action.to_owned(),
            params.clone(),
        ));
        match params.get("KeyId").and_then(Value::as_str) {
            Some("disabled") => {
                return Err(ApiError::new(
                    "ResourceUnavailable.CmkDisabled",
                    "the key is disabled",
                ));
            }
            Some("internal") => {
                return Err(ApiError::new("InternalError", "sqlite said: secret detail"));
            }
            Some("throttled") => return Err(ApiError::new("RequestLimitExceeded", "slow down")),
            Some("slow") => std::thread::sleep(std::time::Duration::from_millis(400)),
            _ => {}
        }
        let out = json!({"Action": action, "Echo": params, "Region": ctx.region, "RequestId": ctx.request_id});
        Ok(Zeroizing::new(
            serde_json::to_vec(&out).expect("serialises"),
        ))
    }

    fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::SeqCst);
    }

    fn mock_clock(&self) -> Option<&MockClock> {
        Some(&self.clock)
    }

    fn reset(&self) -> Result<(), ApiError> {
        self.resets.fetch_add(1, Ordering::SeqCst);
        self.calls.lock().expect("not poisoned").clear();
        Ok(())
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// The Tencent error code, or None for a success; asserts the envelope is well formed.
    pub fn error_code(&self) -> Option<String> {
        assert_eq!(self.status, 200, "Tencent answers HTTP 200 even for errors");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "exact content type"
        );
        let v = self.json();
        let response = v.get("Response").expect("Response wrapper");
        let request_id = response["RequestId"].as_str().expect("RequestId string");
        assert!(
            uuid::Uuid::parse_str(request_id).is_ok(),
            "RequestId is a UUID: {request_id}"
        );
        response.get("Error").map(|e| {
            assert!(e["Message"].is_string(), "Error.Message present");
            e["Code"].as_str().expect("Error.Code string").to_owned()
        })
    }
}

/// Sends raw request bytes (with `Connection: close`) and reads the whole response.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(raw).expect("send");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).expect("read");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = std::str::from_utf8(&out[..split]).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .expect("status line")
        .split(' ')
        .nth(1)
        .expect("code")
        .parse()
        .expect("number");
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header");
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut body = out[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked")
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end])
                .expect("ascii")
                .trim(),
            16,
        )
        .expect("hex");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

/// A captured .http file, with `Connection: close` so the reply ends the stream.
pub fn load_capture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/tc3/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).expect("capture file");
    let text = String::from_utf8(raw).expect("utf-8 capture");
    text.replace("Connection: keep-alive\r\n", "Connection: close\r\n")
        .into_bytes()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// What to put in a hand-built TC3 request.
pub struct Tc3 {
    pub method: &'static str,
    pub query: String,
    pub body: Vec<u8>,
    pub action: String,
    pub version: String,
    pub region: Option<String>,
    pub timestamp: u64,
    pub secret_id: String,
    pub secret_key: String,
    /// Host header sent.
    pub host: String,
    /// Host value signed (defaults to `host`).
    pub signed_host: Option<String>,
    pub content_type: String,
    pub extra_headers: Vec<(String, String)>,
}

impl Tc3 {
    pub fn post(addr: SocketAddr, action: &str, body: &str) -> Self {
        Self {
            method: "POST",
            query: String::new(),
            body: body.as_bytes().to_vec(),
            action: action.to_owned(),
            version: "2019-01-18".to_owned(),
            region: None,
            timestamp: now(),
            secret_id: SECRET_ID.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            host: addr.to_string(),
            signed_host: None,
            content_type: "application/json".to_owned(),
            extra_headers: Vec::new(),
        }
    }

    pub fn get(addr: SocketAddr, action: &str, query: &str) -> Self {
        let mut r = Self::post(addr, action, "");
        r.method = "GET";
        r.query = query.to_owned();
        r.content_type = "application/x-www-form-urlencoded".to_owned();
        r
    }

    pub fn authorization(&self) -> String {
        let host = self
            .signed_host
            .clone()
            .unwrap_or_else(|| self.host.clone());
        self.authorization_over(&[
            ("content-type", self.content_type.as_str()),
            ("host", host.as_str()),
        ])
    }

    /// The Authorization header signing exactly `headers` (lower-case names, values as
    /// signed), in that order, as a hand-written client would.
    pub fn authorization_over(&self, headers: &[(&str, &str)]) -> String {
        let date = tc3::utc_date(self.timestamp);
        let ts = self.timestamp.to_string();
        let payload = if self.method == "GET" {
            tc3::sha256_hex(b"")
        } else {
            tc3::sha256_hex(&self.body)
        };
        let signed_headers = headers
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(";");
        let signature = tc3::SignedRequest {
            method: self.method,
            canonical_query: if self.method == "GET" {
                &self.query
            } else {
                ""
            },
            headers,
            signed_headers: &signed_headers,
            payload_sha256: &payload,
            timestamp: &ts,
            date: &date,
            service: "kms",
        }
        .signature(&self.secret_key);
        tc3::Authorization {
            secret_id: self.secret_id.clone(),
            date,
            service: "kms".into(),
            signed_headers,
            signature,
        }
        .header_value()
    }

    pub fn raw_with_authorization(&self, authorization: Option<&str>) -> Vec<u8> {
        let target = if self.query.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{}", self.query)
        };
        let mut head = format!(
            "{} {target} HTTP/1.1\r\nConnection: close\r\nContent-Type: {}\r\nHost: {}\r\nX-TC-Action: {}\r\nX-TC-Timestamp: {}\r\nX-TC-Version: {}\r\n",
            self.method, self.content_type, self.host, self.action, self.timestamp, self.version
        );
        if let Some(region) = &self.region {
            head.push_str(&format!("X-TC-Region: {region}\r\n"));
        }
        for (k, v) in &self.extra_headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(a) = authorization {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut raw = head.into_bytes();
        raw.extend_from_slice(&self.body);
        raw
    }

    pub fn raw(&self) -> Vec<u8> {
        self.raw_with_authorization(Some(&self.authorization()))
    }

    pub fn send(&self, addr: SocketAddr) -> HttpResponse {
        exchange(addr, &self.raw())
    }
}
