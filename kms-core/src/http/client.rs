//! The HTTP client (feature `http`): Tencent Cloud KMS API calls signed with TC3-HMAC-SHA256,
//! over rustls https (kms.tencentcloudapi.com) or plain http (`tkms serve` on 127.0.0.1).
//!
//! [`HttpKms`] works from synchronous code ([`KmsTransport::call`], which hands the request to
//! a private I/O thread, so it is safe even on a tokio worker thread, though it blocks that
//! thread) and from async code ([`HttpKms::call_async`], which runs on the caller's runtime).

use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use super::tls::{self, TLS_CERTIFICATE_REFUSED};
use super::{API_VERSION, DEFAULT_ENDPOINT, SERVICE, tc3};
use crate::internal::{SecretBuf, zeroize_json_strings};
use crate::kms::{CLIENT_NETWORK_ERROR, KmsError, KmsTransport};

const REQUEST_CLIENT: &str = concat!("tkms-kms-core/", env!("CARGO_PKG_VERSION"));

/// A Tencent Cloud API key (SecretId + SecretKey) and, for temporary credentials, a session token.
#[derive(Clone)]
pub struct Credentials {
    secret_id: String,
    secret_key: Zeroizing<String>,
    token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Long-term credentials.
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            secret_key: Zeroizing::new(secret_key.into()),
            token: None,
        }
    }

    /// Adds an STS session token (`X-TC-Token`).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Zeroizing::new(token.into()));
        self
    }

    /// From `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY` and, if set, `TENCENTCLOUD_TOKEN`.
    pub fn from_env() -> Result<Self, KmsError> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (Some(id), Some(key)) = (
            get("TENCENTCLOUD_SECRET_ID"),
            get("TENCENTCLOUD_SECRET_KEY"),
        ) else {
            return Err(KmsError::new(
                "InvalidCredential",
                "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY to call the KMS",
            ));
        };
        let credentials = Self::new(id, key);
        Ok(match get("TENCENTCLOUD_TOKEN") {
            Some(token) => credentials.with_token(token),
            None => credentials,
        })
    }

    /// The SecretId.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }
}

/// Where and how to call: endpoint, region, timeouts and retries.
#[derive(Clone, Debug)]
struct Config {
    url: reqwest::Url,
    /// The Host header value, which is also the signed host.
    host: String,
    credentials: Credentials,
    region: Option<String>,
    timeout: Duration,
    max_retries: u32,
    initial_backoff: Duration,
}

/// A KMS client over HTTP(S) with TC3 signing, retries with exponential backoff on
/// `RequestLimitExceeded*`, `InternalError` and network errors, and zeroized bodies.
pub struct HttpKms {
    config: Arc<Config>,
    async_client: reqwest::Client,
    io_thread: OnceLock<Result<IoThread, KmsError>>,
}

impl std::fmt::Debug for HttpKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpKms")
            .field("endpoint", &self.config.url.as_str())
            .field("region", &self.config.region)
            .finish_non_exhaustive()
    }
}

fn build_client(timeout: Duration) -> Result<reqwest::Client, KmsError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| {
            KmsError::new(
                CLIENT_NETWORK_ERROR,
                format!("cannot set up the HTTP client: {e}"),
            )
        })
}

impl HttpKms {
    /// A client for `endpoint`: `https://kms.tencentcloudapi.com`, `http://127.0.0.1:8573`, or a
    /// bare `host[:port]` (https). No region is sent until [`with_region`](Self::with_region).
    pub fn new(endpoint: &str, credentials: Credentials) -> Result<Self, KmsError> {
        let with_scheme = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("https://{endpoint}")
        };
        let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
            KmsError::new(
                "InvalidParameter",
                format!("bad KMS endpoint {endpoint:?}: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.path() != "/" || url.query().is_some() {
            return Err(KmsError::new(
                "InvalidParameter",
                format!(
                    "bad KMS endpoint {endpoint:?}: expected http(s)://host[:port] with no path"
                ),
            ));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(KmsError::new(
                    "InvalidParameter",
                    format!("KMS endpoint {endpoint:?} has no host"),
                ));
            }
        };
        let timeout = Duration::from_secs(30);
        Ok(Self {
            config: Arc::new(Config {
                url,
                host,
                credentials,
                region: None,
                timeout,
                max_retries: 3,
                initial_backoff: Duration::from_millis(200),
            }),
            async_client: build_client(timeout)?,
            io_thread: OnceLock::new(),
        })
    }

    /// From the environment: credentials as [`Credentials::from_env`], the region from
    /// `TENCENTCLOUD_REGION`, the endpoint from `TKMS_ENDPOINT` (default
    /// [`DEFAULT_ENDPOINT`]).
    pub fn from_env() -> Result<Self, KmsError> {
        let endpoint =
            std::env::var("TKMS_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_owned());
        let client = Self::new(&endpoint, Credentials::from_env()?)?;
        Ok(
            match std::env::var("TENCENTCLOUD_REGION")
                .ok()
                .filter(|r| !r.is_empty())
            {
                Some(region) => client.with_region(region),
                None => client,
            },
        )
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Sends `X-TC-Region: region` on every call.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.config_mut().region = Some(region.into());
        self
    }

    /// The whole-request timeout (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, KmsError> {
        self.config_mut().timeout = timeout;
        self.async_client = build_client(timeout)?;
        Ok(self)
    }

    /// How many times a retryable failure is retried (default 3), and the first backoff
    /// (default 200 ms, doubling each time).
    pub fn with_retries(mut self, max_retries: u32, initial_backoff: Duration) -> Self {
        let config = self.config_mut();
        config.max_retries = max_retries;
        config.initial_backoff = initial_backoff;
        self
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        self.config.url.as_str()
    }

    /// [`KmsTransport::call`] for async code: runs on the caller's tokio runtime without
    /// blocking it.
    pub async fn call_async(
        &self,
        action: &str,
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        call_with_retries(&self.async_client, &self.config, action, params).await
    }

    fn io_thread(&self) -> Result<&IoThread, KmsError> {
        self.io_thread
            .get_or_init(|| IoThread::start(self.config.timeout))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl KmsTransport for HttpKms {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            config: Arc::clone(&self.config),
            action: action.to_owned(),
            params: Zeroizing::new(params.to_vec()),
            reply,
        };
        self.io_thread()?.jobs.send(job).map_err(|_| {
            KmsError::new(
                CLIENT_NETWORK_ERROR,
                "the HTTP client's I/O thread has stopped",
            )
        })?;
        answer.recv().map_err(|_| {
            KmsError::new(
                CLIENT_NETWORK_ERROR,
                "the HTTP client's I/O thread has stopped",
            )
        })?
    }
}

impl crate::kms::AsyncKmsTransport for HttpKms {
    fn call_async<'a>(&'a self, action: &'a str, params: &'a [u8]) -> crate::kms::KmsFuture<'a> {
        Box::pin(HttpKms::call_async(self, action, params))
    }
}

struct Job {
    config: Arc<Config>,
    action: String,
    params: Zeroizing<Vec<u8>>,
    reply: mpsc::SyncSender<Result<Zeroizing<Vec<u8>>, KmsError>>,
}

/// A thread of its own running a current-thread runtime for the synchronous API, so that
/// sync calls work everywhere, including inside another runtime (where reqwest's blocking
/// client would panic). It ends when the client is dropped (the job channel closes).
struct IoThread {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

impl IoThread {
    fn start(timeout: Duration) -> Result<Self, KmsError> {
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (ready, started) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("tkms-http-client".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ =
                            ready.send(Err(format!("cannot start the HTTP client's runtime: {e}")));
                        return;
                    }
                };
                // The client is built inside its runtime, where its connection pool lives.
                let client = match runtime.block_on(async { build_client(timeout) }) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready.send(Err(e.message));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        let client = client.clone();
                        tokio::spawn(async move {
                            let result =
                                call_with_retries(&client, &job.config, &job.action, &job.params)
                                    .await;
                            let _ = job.reply.send(result);
                        });
                    }
                });
            })
            .map_err(|e| {
                KmsError::new(
                    CLIENT_NETWORK_ERROR,
                    format!("cannot start the HTTP client thread: {e}"),
                )
            })?;
        match started.recv() {
            Ok(Ok(())) => Ok(Self { jobs }),
            Ok(Err(message)) => Err(KmsError::new(CLIENT_NETWORK_ERROR, message)),
            Err(_) => Err(KmsError::new(
                CLIENT_NETWORK_ERROR,
                "the HTTP client thread failed to start",
            )),
        }
    }
}

async fn call_with_retries(
    client: &reqwest::Client,
    config: &Config,
    action: &str,
    params: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let mut backoff = config.initial_backoff;
    let mut attempt = 0;
    loop {
        match call_once(client, config, action, params).await {
            Err(e) if e.is_retryable() && attempt < config.max_retries => {
                attempt += 1;
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            other => return other,
        }
    }
}

/// The signed headers of one request: everything but the body.
#[derive(Debug)]
pub(crate) struct SignedHeaders {
    pub(crate) timestamp: String,
    pub(crate) authorization: String,
}

/// Signs a JSON POST the way the official SDKs do (`content-type;host`).
pub(crate) fn sign_json_post(
    host: &str,
    credentials: &Credentials,
    body: &[u8],
    unix_secs: u64,
) -> SignedHeaders {
    let timestamp = unix_secs.to_string();
    let date = tc3::utc_date(unix_secs);
    let payload_sha256 = tc3::sha256_hex(body);
    let request = tc3::SignedRequest {
        method: "POST",
        canonical_query: "",
        headers: &[("content-type", "application/json"), ("host", host)],
        signed_headers: tc3::SDK_SIGNED_HEADERS,
        payload_sha256: &payload_sha256,
        timestamp: &timestamp,
        date: &date,
        service: SERVICE,
    };
    let signature = request.signature(&credentials.secret_key);
    let authorization = tc3::Authorization {
        secret_id: credentials.secret_id.clone(),
        date: date.clone(),
        service: SERVICE.to_owned(),
        signed_headers: tc3::SDK_SIGNED_HEADERS.to_owned(),
        signature,
    }
    .header_value();
    SignedHeaders {
        timestamp,
        authorization,
    }
}

fn network_error(e: &reqwest::Error) -> KmsError {
    // reqwest errors name the URL but never the body; no secret can leak here.
    if let Some(problem) = tls::certificate_problem(e) {
        let url = e.url().map(|u| format!(" ({u})")).unwrap_or_default();
        return KmsError::new(
            CLIENT_NETWORK_ERROR,
            format!("{TLS_CERTIFICATE_REFUSED}{url}: {problem}"),
        );
    }
    KmsError::new(CLIENT_NETWORK_ERROR, format!("KMS request failed: {e}"))
}

async fn call_once(
    client: &reqwest::Client,
    config: &Config,
    action: &str,
    params: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let body = Zeroizing::new(if params.is_empty() {
        b"{}".to_vec()
    } else {
        params.to_vec()
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let signed = sign_json_post(&config.host, &config.credentials, &body, now);
    let mut request = client
        .post(config.url.clone())
        .header("Host", &config.host)
        .header("Content-Type", "application/json")
        .header("X-TC-Action", action)
        .header("X-TC-Version", API_VERSION)
        .header("X-TC-Timestamp", &signed.timestamp)
        .header("X-TC-RequestClient", REQUEST_CLIENT)
        .header("Authorization", &signed.authorization);
    if let Some(region) = &config.region {
        request = request.header("X-TC-Region", region);
    }
    if let Some(token) = &config.credentials.token {
        request = request.header("X-TC-Token", token.as_str());
    }
    // The body is dropped (and zeroized) by reqwest once sent.
    let response = request
        .body(bytes::Bytes::from_owner(body))
        .send()
        .await
        .map_err(|e| network_error(&e))?;
    let status = response.status();
    let raw = response.bytes().await.map_err(|e| network_error(&e))?;
    let raw = zeroizing_copy(raw);
    if !status.is_success() {
        return Err(KmsError::new(
            "ServerNetworkError",
            format!("the KMS answered HTTP {status}"),
        ));
    }
    parse_response(&raw)
}

/// Copies a received buffer into a zeroizing one and wipes the original when it is ours alone.
fn zeroizing_copy(bytes: bytes::Bytes) -> Zeroizing<Vec<u8>> {
    let copy = Zeroizing::new(bytes.to_vec());
    if let Ok(mut unique) = bytes.try_into_mut() {
        unique.as_mut().zeroize();
    }
    copy
}

/// Splits `{"Response": {...}}` into the inner object (success) or the Tencent error.
pub(crate) fn parse_response(raw: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let mut envelope: Value = serde_json::from_slice(raw).map_err(|e| {
        KmsError::new(
            "ServerNetworkError",
            format!("the KMS answer is not JSON: {e}"),
        )
    })?;
    let result = (|| {
        let Some(response) = envelope.get("Response").filter(|r| r.is_object()) else {
            return Err(KmsError::new(
                "ServerNetworkError",
                "the KMS answer has no Response object",
            ));
        };
        if let Some(error) = response.get("Error") {
            let text = |field: &str| {
                error
                    .get(field)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            return Err(KmsError {
                code: text("Code"),
                message: text("Message"),
                request_id: response
                    .get("RequestId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        Ok(SecretBuf::json(response).expect("JSON values always serialise"))
    })();
    zeroize_json_strings(&mut envelope);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_style_signature_matches_a_captured_request() {
        // vectors/tc3/Encrypt.http (Python SDK 3.1.192), secret examplesecretkey0000000000000000.
        let body = br#"{"KeyId": "5a1c7f2e-9d0b-11ef-8e65-525400aabbcc", "Plaintext": "aGVsbG8=", "EncryptionContext": "{\"purpose\":\"test\"}"}"#;
        let credentials = Credentials::new(
            "AKIDEXAMPLE0000000000000000000000000",
            "examplesecretkey0000000000000000",
        );
        let signed = sign_json_post("127.0.0.1:42929", &credentials, body, 1_795_925_099);
        assert_eq!(signed.timestamp, "1795925099");
        assert_eq!(
            signed.authorization,
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE0000000000000000000000000/2026-11-29/kms/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=55a699543413715074fc9bfce6b4b62dde88d26c8b8ece7e0172efacbeffb860"
        );
    }

    #[test]
    fn responses_split_into_success_and_error() {
        let ok =
            parse_response(br#"{"Response": {"KeyId": "k", "RequestId": "r"}}"#).expect("success");
        let ok: Value = serde_json::from_slice(&ok).expect("json");
        assert_eq!(ok["KeyId"], "k");
        let err = parse_response(br#"{"Response": {"Error": {"Code": "ResourceUnavailable.CmkDisabled", "Message": "m"}, "RequestId": "r"}}"#)
            .expect_err("error");
        assert_eq!(err.code, "ResourceUnavailable.CmkDisabled");
        assert_eq!(err.request_id.as_deref(), Some("r"));
        assert_eq!(
            parse_response(b"<html>").expect_err("not json").code,
            "ServerNetworkError"
        );
        assert_eq!(
            parse_response(b"{}").expect_err("no Response").code,
            "ServerNetworkError"
        );
    }

    #[test]
    fn endpoints_and_hosts() {
        let c = || Credentials::new("id", "key");
        assert_eq!(
            HttpKms::new("http://127.0.0.1:8573", c())
                .expect("ok")
                .config
                .host,
            "127.0.0.1:8573"
        );
        assert_eq!(
            HttpKms::new("kms.tencentcloudapi.com", c())
                .expect("ok")
                .endpoint(),
            "https://kms.tencentcloudapi.com/"
        );
        assert_eq!(
            HttpKms::new("https://kms.tencentcloudapi.com", c())
                .expect("ok")
                .config
                .host,
            "kms.tencentcloudapi.com"
        );
        assert!(HttpKms::new("ftp://x", c()).is_err());
        assert!(HttpKms::new("http://x/path", c()).is_err());
        assert!(!format!("{:?}", c().with_token("tok")).contains("key"));
    }
}
