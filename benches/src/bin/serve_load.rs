//! A small closed-loop HTTP/1.1 load generator for `tkms serve` (TC3-signed requests, so the
//! server verifies every signature) and for moto's KMS server (AWS JSON protocol), used by
//! benches/serve-vs-moto.sh.
//!
//! ```text
//! serve_load --addr 127.0.0.1:8573 --target tkms|moto|noop --action Encrypt|GenerateDataKey
//!            [--key-id ID] [--connections 64] [--seconds 10]
//! ```
//!
//! With `--target tkms`, `--action` may also be PostQuantumCryptoEncrypt, ...Decrypt, ...Sign,
//! ...Verify, or SignByAsymmetricKey / VerifyByAsymmetricKey followed by `/RSA_2048` or `/SM2`
//! (benches/pqc-http.sh).
//!
//! tkms credentials come from TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY. With
//! `--target tkms` and no `--key-id`, a key of the action's usage is created first (CreateKey);
//! a blob to decrypt or a signature to verify is made once before the load. The request is
//! signed once per run (valid for the server's 5-minute skew window); each connection sends
//! it back to back over keep-alive and checks every answer is a 200 without an `Error`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kms_core::http::tc3;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    addr: String,
    target: String,
    action: String,
    key_id: Option<String>,
    connections: usize,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8573".into(),
        target: "tkms".into(),
        action: "Encrypt".into(),
        key_id: None,
        connections: 64,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--target" => args.target = value()?,
            "--action" => args.action = value()?,
            "--key-id" => args.key_id = Some(value()?),
            "--connections" => {
                args.connections = value()?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?
            }
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn body_for(action: &str, key_id: &str) -> Result<String, String> {
    match action {
        // 32 bytes of plaintext, base64.
        "Encrypt" => Ok(format!(
            r#"{{"KeyId": "{key_id}", "Plaintext": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}"#
        )),
        "GenerateDataKey" => Ok(format!(r#"{{"KeyId": "{key_id}", "KeySpec": "AES_256"}}"#)),
        other => Err(format!("unsupported action {other}")),
    }
}

/// 32 bytes, base64: the plaintext or message of the asymmetric loads.
const MESSAGE: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// One call before the load; its `Response`.
async fn once(
    addr: &str,
    action: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let request = tkms_request(addr, action, &body.to_string())?;
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (ok, body, _) = round_trip(&mut stream, &request, &mut Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if !ok {
        return Err(format!("{action} failed: {text}"));
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(v["Response"].clone())
}

/// The tkms action and body of `--action SPEC`, with the key (and blob or signature) it needs.
async fn tkms_load(
    addr: &str,
    spec: &str,
    key_id: Option<&str>,
) -> Result<(String, String), String> {
    use serde_json::json;
    let (action, flavour) = spec.split_once('/').unwrap_or((spec, ""));
    let (usage, algorithm) = match (action, flavour) {
        ("Encrypt" | "GenerateDataKey", "") => ("ENCRYPT_DECRYPT", ""),
        ("PostQuantumCryptoEncrypt" | "PostQuantumCryptoDecrypt", "") => {
            ("ASYMMETRIC_Encrypt_Decrypt_Kyber_AES", "")
        }
        ("PostQuantumCryptoSign" | "PostQuantumCryptoVerify", "") => {
            ("ASYMMETRIC_SIGN_VERIFY_DILITHIUM", "")
        }
        ("SignByAsymmetricKey" | "VerifyByAsymmetricKey", "RSA_2048") => {
            ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_PSS_SHA_256")
        }
        ("SignByAsymmetricKey" | "VerifyByAsymmetricKey", "SM2") => {
            ("ASYMMETRIC_SIGN_VERIFY_SM2", "SM2DSA")
        }
        _ => return Err(format!("unsupported action {spec}")),
    };
    let key_id = match key_id {
        Some(id) => id.to_owned(),
        None => {
            let alias = format!("bench-{}-{}", std::process::id(), action.len());
            let created = once(
                addr,
                "CreateKey",
                &json!({"Alias": alias, "KeyUsage": usage}),
            )
            .await?;
            created["KeyId"]
                .as_str()
                .ok_or("CreateKey returned no KeyId")?
                .to_owned()
        }
    };
    let sign = if algorithm.is_empty() {
        json!({"KeyId": key_id, "Message": MESSAGE})
    } else {
        json!({"KeyId": key_id, "Message": MESSAGE, "Algorithm": algorithm})
    };
    let body = match action {
        "Encrypt" | "GenerateDataKey" => body_for(action, &key_id)?,
        "PostQuantumCryptoEncrypt" => json!({"KeyId": key_id, "PlainText": MESSAGE}).to_string(),
        "PostQuantumCryptoDecrypt" => {
            let sealed = once(
                addr,
                "PostQuantumCryptoEncrypt",
                &json!({"KeyId": key_id, "PlainText": MESSAGE}),
            )
            .await?;
            json!({"CiphertextBlob": sealed["CiphertextBlob"]}).to_string()
        }
        "PostQuantumCryptoSign" | "SignByAsymmetricKey" => sign.to_string(),
        _ => {
            let signer = if action == "PostQuantumCryptoVerify" {
                "PostQuantumCryptoSign"
            } else {
                "SignByAsymmetricKey"
            };
            let mut verify = sign.clone();
            verify["SignatureValue"] = once(addr, signer, &sign).await?["Signature"].clone();
            verify.to_string()
        }
    };
    Ok((action.to_owned(), body))
}

fn tkms_request(addr: &str, action: &str, body: &str) -> Result<Vec<u8>, String> {
    let id = std::env::var("TENCENTCLOUD_SECRET_ID").map_err(|_| "set TENCENTCLOUD_SECRET_ID")?;
    let key =
        std::env::var("TENCENTCLOUD_SECRET_KEY").map_err(|_| "set TENCENTCLOUD_SECRET_KEY")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let (ts, date) = (now.to_string(), tc3::utc_date(now));
    let payload = tc3::sha256_hex(body.as_bytes());
    let signature = tc3::SignedRequest {
        method: "POST",
        canonical_query: "",
        headers: &[("content-type", "application/json"), ("host", addr)],
        signed_headers: tc3::SDK_SIGNED_HEADERS,
        payload_sha256: &payload,
        timestamp: &ts,
        date: &date,
        service: "kms",
    }
    .signature(&key);
    let authorization = tc3::Authorization {
        secret_id: id,
        date,
        service: "kms".into(),
        signed_headers: tc3::SDK_SIGNED_HEADERS.into(),
        signature,
    }
    .header_value();
    Ok(format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-TC-Action: {action}\r\n\
         X-TC-Version: 2019-01-18\r\nX-TC-Timestamp: {ts}\r\nX-TC-Region: ap-guangzhou\r\n\
         Authorization: {authorization}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes())
}

fn moto_request(addr: &str, action: &str, body: &str) -> Vec<u8> {
    // moto does not verify SigV4; it reads the region from the credential scope.
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: TrentService.{action}\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request` and reads one response: (a 200 without an error?, body, server closes?).
async fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<(bool, Vec<u8>, bool)> {
    stream.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    let close = head.lines().any(|l| l.trim() == "connection: close");
    let ok = head.starts_with("http/1.1 200")
        && !body.windows(7).any(|w| w == b"\"Error\"")
        && !body.windows(8).any(|w| w == b"__type\":");
    Ok((ok, body, close))
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn connection(addr: String, request: std::sync::Arc<Vec<u8>>, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16 * 1024);
    while Instant::now() < until {
        let start = Instant::now();
        // A server that closes after each answer (moto's werkzeug) costs a reconnect per request.
        let attempt = async {
            let mut s = match stream.take() {
                Some(s) => s,
                None => {
                    let s = TcpStream::connect(&addr).await?;
                    let _ = s.set_nodelay(true);
                    s
                }
            };
            let (ok, body, close) = round_trip(&mut s, &request, &mut buf).await?;
            if !close {
                stream = Some(s);
            }
            Ok::<_, std::io::Error>((ok, body))
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok((true, _))) => tally
                .latencies_us
                .push(start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
            Ok(Ok((false, body))) => {
                tally.errors += 1;
                tally
                    .first_error
                    .get_or_insert_with(|| String::from_utf8_lossy(&body).into_owned());
            }
            Ok(Err(e)) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
            }
            Err(_) => {
                tally.errors += 1;
                tally
                    .first_error
                    .get_or_insert_with(|| "no answer within 10 s".into());
            }
        }
    }
    tally
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), String> {
    let request = match args.target.as_str() {
        "tkms" => {
            let (action, body) =
                tkms_load(&args.addr, &args.action, args.key_id.as_deref()).await?;
            tkms_request(&args.addr, &action, &body)?
        }
        "moto" => {
            let key_id = args.key_id.clone().unwrap_or_default();
            moto_request(&args.addr, &args.action, &body_for(&args.action, &key_id)?)
        }
        "noop" => format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", args.addr).into_bytes(),
        other => return Err(format!("unknown target {other}")),
    };
    let request = std::sync::Arc::new(request);
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(connection(args.addr.clone(), request.clone(), until)))
        .collect();
    let mut all = Vec::new();
    let (mut errors, mut idle, mut first_error) = (0u64, 0usize, None);
    for task in tasks {
        let tally = task.await.map_err(|e| e.to_string())?;
        errors += tally.errors;
        if tally.latencies_us.is_empty() {
            idle += 1;
        }
        if first_error.is_none() {
            first_error = tally.first_error;
        }
        all.extend(tally.latencies_us);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "target={} action={} connections={} seconds={:.1} requests={} rps={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} errors={} idle_connections={}",
        args.target,
        if args.target == "noop" {
            "healthz"
        } else {
            &args.action
        },
        args.connections,
        elapsed,
        all.len(),
        all.len() as f64 / elapsed,
        f64::from(pct(0.50)) / 1000.0,
        f64::from(pct(0.99)) / 1000.0,
        f64::from(all.last().copied().unwrap_or(0)) / 1000.0,
        errors,
        idle,
    );
    if let Some(e) = first_error {
        eprintln!("first error: {}", e.chars().take(300).collect::<String>());
    }
    if errors > 0 || idle > 0 {
        Err("some requests failed".into())
    } else {
        Ok(())
    }
}
