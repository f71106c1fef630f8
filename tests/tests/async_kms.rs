//! The async streams' KMS call through the HTTP client's async call (AsyncKms), against
//! mock-hsm's TestServer: one GenerateDataKey to seal, one Decrypt to open, counted in the
//! server's audit trail; envelopes interchangeable with the blocking client's; refusals
//! surface with their Tencent code, and a wrong context asks the KMS nothing.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kms_core::http::HttpKms;
use kms_core::kms::{AsyncKms, KmsTransport};
use kms_core::wrap::kms::KmsUnwrapper;
use kms_core::wrap::{KeyWrapper, local::LocalWrapper};
use kms_core::{AsyncDecryptor, AsyncEncryptor, DecryptError, EncryptOptions, EncryptionContext};
use mock_hsm::server::TestServer;
use mock_hsm::{AuditLog, AuditQuery, ResultFilter};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/audited_server.rs"]
mod support;

struct Fixture {
    _server: TestServer,
    audit: Arc<AuditLog>,
    http: Arc<HttpKms>,
    key_id: String,
}

impl Fixture {
    fn start() -> Self {
        let (server, audit, http) = support::audited_server();
        let params = json!({"Alias": "async", "KeyUsage": "ENCRYPT_DECRYPT"}).to_string();
        let created: serde_json::Value =
            serde_json::from_slice(&http.call("CreateKey", params.as_bytes()).unwrap()).unwrap();
        Self {
            _server: server,
            audit,
            key_id: created["KeyId"].as_str().unwrap().to_owned(),
            http,
        }
    }

    fn rows(&self, action: &str, result: ResultFilter) -> usize {
        self.audit
            .query(&AuditQuery {
                action: Some(action.to_owned()),
                result: Some(result),
                ..AuditQuery::default()
            })
            .unwrap()
            .len()
    }

    fn kms(&self) -> AsyncKms {
        AsyncKms::new(self.http.clone())
    }
}

fn options() -> EncryptOptions {
    EncryptOptions {
        context: EncryptionContext::new().with("app", "async-kms"),
        ..EncryptOptions::default()
    }
}

// One worker thread: the KMS calls are awaited on it, not handed to a blocking thread.
#[tokio::test(flavor = "current_thread")]
async fn seal_and_open_with_the_async_kms_call_one_request_each() {
    let fx = Fixture::start();
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 11).map(|i| (i % 253) as u8).collect();
    let escrow: Arc<dyn KeyWrapper> = Arc::new(
        LocalWrapper::from_private_key(include_bytes!(
            "../../cli/tests/data/test-only-rsa.key.pem"
        ))
        .unwrap(),
    );

    let mut writer = AsyncEncryptor::with_kms(
        Vec::new(),
        &fx.kms(),
        &fx.key_id,
        std::slice::from_ref(&escrow),
        &options(),
    )
    .await
    .unwrap();
    writer.write_all(&data).await.unwrap();
    let sealed = writer.finish().await.unwrap();
    assert_eq!(fx.rows("GenerateDataKey", ResultFilter::Ok), 1);
    let header = kms_core::parse_header(&sealed).unwrap().0;
    assert_eq!(
        header.wrapped_keys.len(),
        2,
        "the KMS copy and the escrow copy"
    );

    // The blocking client opens it (one Decrypt), and so does the escrow key offline.
    let blocking = KmsUnwrapper::new(fx.http.clone());
    let ctx = options().context;
    assert_eq!(
        kms_core::decrypt(&sealed, &[&blocking], &ctx).unwrap(),
        data
    );
    assert_eq!(kms_core::decrypt(&sealed, &[&*escrow], &ctx).unwrap(), data);
    assert_eq!(fx.rows("Decrypt", ResultFilter::Ok), 1);

    // The async decryptor opens what the blocking client sealed, with one more Decrypt.
    let wrapper = kms_core::wrap::kms::KmsWrapper::for_key(fx.http.clone(), &fx.key_id).unwrap();
    let envelope = kms_core::encrypt(&data, &[&wrapper], &options()).unwrap();
    let mut reader = AsyncDecryptor::with_kms(&envelope[..], &fx.kms(), &ctx)
        .await
        .unwrap();
    let mut opened = Vec::new();
    reader.read_to_end(&mut opened).await.unwrap();
    assert_eq!(opened, data);
    assert_eq!(fx.rows("Decrypt", ResultFilter::Ok), 2);

    // A wrong context is refused before the KMS is asked.
    let other = EncryptionContext::new().with("app", "other");
    let err = AsyncDecryptor::with_kms(&sealed[..], &fx.kms(), &other)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DecryptError::ContextMismatch), "{err}");
    assert_eq!(
        fx.rows("Decrypt", ResultFilter::Ok) + fx.rows("Decrypt", ResultFilter::Error),
        2
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_disabled_key_is_refused_with_its_code() {
    let fx = Fixture::start();
    let mut writer = AsyncEncryptor::with_kms(Vec::new(), &fx.kms(), &fx.key_id, &[], &options())
        .await
        .unwrap();
    writer.write_all(b"before").await.unwrap();
    let sealed = writer.finish().await.unwrap();
    let params = json!({"KeyId": fx.key_id}).to_string();
    fx.http.call("DisableKey", params.as_bytes()).unwrap();

    let refused = AsyncEncryptor::with_kms(Vec::new(), &fx.kms(), &fx.key_id, &[], &options())
        .await
        .err()
        .unwrap();
    assert!(refused.to_string().contains("CmkDisabled"), "{refused}");
    let refused = AsyncDecryptor::with_kms(&sealed[..], &fx.kms(), &options().context)
        .await
        .err()
        .unwrap();
    match refused {
        DecryptError::Kms(e) => assert_eq!(e.code, "ResourceUnavailable.CmkDisabled"),
        other => panic!("{other}"),
    }
}
