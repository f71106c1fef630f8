//! Hosted data keys: GetDataKeyPlaintext beside Decrypt of the same 32-byte data key, in the
//! same run, in-process (`KmsApi::dispatch`) and over HTTP (`tkms serve`'s server on loopback,
//! kms-core's TC3-signing `HttpKms`). Run: `cargo bench -p tkms-benches --bench datakeys`.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kms_core::http::{Credentials, HttpKms};
use mock_hsm::server::TestServer;
use mock_hsm::{Hsm, HsmConfig, InProcess, SymmetricPolicy};
use serde_json::{Value, json};

fn call(kms: &dyn kms_core::kms::KmsTransport, action: &str, params: &Value) -> Value {
    let out = kms
        .call(action, &serde_json::to_vec(params).expect("json"))
        .expect(action);
    serde_json::from_slice(&out).expect("json response")
}

/// A hosted data key on `kms`: the Decrypt and GetDataKeyPlaintext requests for it.
fn requests(kms: &dyn kms_core::kms::KmsTransport) -> (Value, Value) {
    let key_id = call(kms, "CreateKey", &json!({"Alias": "bench"}))["KeyId"].clone();
    let made = call(
        kms,
        "GenerateDataKey",
        &json!({"KeyId": key_id, "KeySpec": "AES_256", "IsHostedByKms": 1, "DataKeyName": "bench"}),
    );
    (
        json!({"CiphertextBlob": made["CiphertextBlob"]}),
        json!({"DataKeyId": made["DataKeyId"]}),
    )
}

fn bench_pair(c: &mut Criterion, group: &str, kms: &dyn kms_core::kms::KmsTransport) {
    let (decrypt, plaintext) = requests(kms);
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("Decrypt 32 B", |b| {
        b.iter(|| call(kms, "Decrypt", &decrypt))
    });
    group.bench_function("GetDataKeyPlaintext 32 B", |b| {
        b.iter(|| call(kms, "GetDataKeyPlaintext", &plaintext))
    });
    group.finish();
}

fn datakeys(c: &mut Criterion) {
    let open = || {
        Arc::new(
            Hsm::open(HsmConfig::in_memory().with_symmetric(SymmetricPolicy::AlwaysAes256))
                .expect("open"),
        )
    };
    let in_process = InProcess::new(open());
    bench_pair(c, "datakeys/in-process", &in_process);
    let server = TestServer::start(open()).expect("server");
    let http = HttpKms::new(
        server.endpoint(),
        Credentials::new(server.secret_id(), server.secret_key()),
    )
    .expect("client")
    .with_region(server.region());
    bench_pair(c, "datakeys/http", &http);
}

criterion_group!(benches, datakeys);
criterion_main!(benches);
