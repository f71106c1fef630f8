//! mock-hsm core throughput, in-process (no HTTP): symmetric Encrypt / Decrypt /
//! GenerateDataKey per CMK flavour with EncryptByWhiteBox beside them, asymmetric decryption,
//! post-quantum encryption and signatures beside RSA-2048 and SM2 signatures, durable
//! CreateKey / RotateKey, and the time to open a store holding 100,000 keys.
//! Run: `cargo bench -p tkms-benches --bench hsm`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mock_hsm::{CallContext, Hsm, HsmConfig, KmsApi, SymmetricPolicy};
use serde_json::{Value, json};

fn ctx() -> CallContext {
    CallContext {
        account_uin: 1,
        identity: "root".into(),
        region: "ap-guangzhou".into(),
        request_id: "bench".into(),
        source_ip: None,
    }
}

fn call(hsm: &Hsm, action: &str, params: &Value) -> Value {
    let out = hsm
        .dispatch(&ctx(), action, &serde_json::to_vec(params).expect("json"))
        .expect(action);
    serde_json::from_slice(&out).expect("json response")
}

fn create(hsm: &Hsm, alias: &str, usage: &str) -> String {
    call(
        hsm,
        "CreateKey",
        &json!({"Alias": alias, "KeyUsage": usage}),
    )["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_owned()
}

fn symmetric(c: &mut Criterion) {
    for (name, policy) in [
        ("AES-256", SymmetricPolicy::AlwaysAes256),
        ("SM4", SymmetricPolicy::AlwaysSm4),
    ] {
        let hsm = Hsm::open(HsmConfig::in_memory().with_symmetric(policy)).expect("open");
        let id = create(&hsm, "bench", "ENCRYPT_DECRYPT");
        let mut group = c.benchmark_group(format!("hsm/{name}"));
        group.throughput(Throughput::Elements(1));
        let encrypt = json!({"KeyId": id, "Plaintext": B64.encode([7u8; 32]), "EncryptionContext": "{\"app\":\"bench\"}"});
        group.bench_function("Encrypt 32 B", |b| {
            b.iter(|| call(&hsm, "Encrypt", &encrypt))
        });
        let blob = call(&hsm, "Encrypt", &encrypt)["CiphertextBlob"].clone();
        let decrypt = json!({"CiphertextBlob": blob, "EncryptionContext": "{\"app\":\"bench\"}"});
        group.bench_function("Decrypt 32 B", |b| {
            b.iter(|| call(&hsm, "Decrypt", &decrypt))
        });
        let gdk = json!({"KeyId": id, "KeySpec": "AES_256"});
        group.bench_function("GenerateDataKey AES_256", |b| {
            b.iter(|| call(&hsm, "GenerateDataKey", &gdk))
        });
        // A white-box key of the same cipher, beside Encrypt in the same run (docs/whitebox.md).
        let algorithm = if name == "SM4" { "SM4" } else { "AES_256" };
        let wb = call(
            &hsm,
            "CreateWhiteBoxKey",
            &json!({"Alias": "bench-wb", "Algorithm": algorithm}),
        )["KeyId"]
            .clone();
        let wb_encrypt = json!({"KeyId": wb, "PlainText": B64.encode([7u8; 32]), "InitializationVector": B64.encode([1u8; 16])});
        group.bench_function("EncryptByWhiteBox 32 B", |b| {
            b.iter(|| call(&hsm, "EncryptByWhiteBox", &wb_encrypt))
        });
        group.finish();
    }
}

/// Ciphertext to a CMK's public key, made by the mock itself (Decrypt sealing to a PEM).
fn sealed_to(hsm: &Hsm, cmk: &str, algorithm: &str) -> String {
    let pem = call(hsm, "GetPublicKey", &json!({"KeyId": cmk}))["PublicKeyPem"].clone();
    let sym = create(hsm, &format!("seal-{}", algorithm.len()), "ENCRYPT_DECRYPT");
    let blob = call(
        hsm,
        "Encrypt",
        &json!({"KeyId": sym, "Plaintext": B64.encode([9u8; 32])}),
    )["CiphertextBlob"]
        .clone();
    call(hsm, "Decrypt", &json!({"CiphertextBlob": blob, "EncryptionPublicKey": pem, "EncryptionAlgorithm": algorithm}))["Plaintext"]
        .as_str()
        .expect("sealed")
        .to_owned()
}

fn asymmetric(c: &mut Criterion) {
    let hsm = Hsm::open(HsmConfig::in_memory()).expect("open");
    let rsa = create(&hsm, "rsa", "ASYMMETRIC_DECRYPT_RSA_2048");
    let sm2 = create(&hsm, "sm2", "ASYMMETRIC_DECRYPT_SM2");
    let rsa_ct = sealed_to(&hsm, &rsa, "RSAES_OAEP_SHA_256");
    let sm2_ct = sealed_to(&hsm, &sm2, "SM2_C1C3C2_ASN1");
    let mut group = c.benchmark_group("hsm/asymmetric");
    group.throughput(Throughput::Elements(1));
    let p = json!({"KeyId": rsa, "Ciphertext": rsa_ct, "Algorithm": "RSAES_OAEP_SHA_256"});
    group.bench_function("AsymmetricRsaDecrypt OAEP-SHA256", |b| {
        b.iter(|| call(&hsm, "AsymmetricRsaDecrypt", &p))
    });
    let p = json!({"KeyId": sm2, "Ciphertext": sm2_ct});
    group.bench_function("AsymmetricSm2Decrypt", |b| {
        b.iter(|| call(&hsm, "AsymmetricSm2Decrypt", &p))
    });
    // Baseline: the same aws-lc-rs private operation with no KMS around it.
    let key = aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("rsa");
    let public = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(key.public_key()).expect("oaep");
    let mut ct = vec![0u8; public.ciphertext_size()];
    let ct = public
        .encrypt(
            &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
            &[9u8; 32],
            &mut ct,
            None,
        )
        .expect("encrypt")
        .to_vec();
    let private = aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(key).expect("oaep");
    let mut out = vec![0u8; 256];
    group.bench_function("baseline aws-lc-rs RSA-2048 OAEP decrypt", |b| {
        b.iter(|| {
            private
                .decrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, &ct, &mut out, None)
                .expect("decrypt")
                .len()
        })
    });
    group.finish();
}

/// The post-quantum actions beside RSA-2048 and SM2 signatures (run with `hsm/asymmetric` for
/// the decryptions): 32-byte plaintexts and messages.
fn post_quantum(c: &mut Criterion) {
    let hsm = Hsm::open(HsmConfig::in_memory()).expect("open");
    let kyber = create(&hsm, "kyber", "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES");
    let mut group = c.benchmark_group("hsm/pqc");
    group.throughput(Throughput::Elements(1));
    let message = B64.encode([7u8; 32]);
    let encrypt = json!({"KeyId": kyber, "PlainText": message});
    group.bench_function("PostQuantumCryptoEncrypt 32 B", |b| {
        b.iter(|| call(&hsm, "PostQuantumCryptoEncrypt", &encrypt))
    });
    let blob = call(&hsm, "PostQuantumCryptoEncrypt", &encrypt)["CiphertextBlob"].clone();
    let decrypt = json!({"CiphertextBlob": blob});
    group.bench_function("PostQuantumCryptoDecrypt 32 B", |b| {
        b.iter(|| call(&hsm, "PostQuantumCryptoDecrypt", &decrypt))
    });
    for (usage, algorithm, sign_action, verify_action) in [
        (
            "ASYMMETRIC_SIGN_VERIFY_DILITHIUM",
            None,
            "PostQuantumCryptoSign",
            "PostQuantumCryptoVerify",
        ),
        (
            "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
            Some("RSA_PSS_SHA_256"),
            "SignByAsymmetricKey",
            "VerifyByAsymmetricKey",
        ),
        (
            "ASYMMETRIC_SIGN_VERIFY_SM2",
            Some("SM2DSA"),
            "SignByAsymmetricKey",
            "VerifyByAsymmetricKey",
        ),
    ] {
        let id = create(&hsm, usage, usage);
        let mut sign = json!({"KeyId": id, "Message": message});
        if let Some(algorithm) = algorithm {
            sign["Algorithm"] = json!(algorithm);
        }
        let label = algorithm.unwrap_or("ML-DSA-65");
        group.bench_function(format!("{sign_action} {label}"), |b| {
            b.iter(|| call(&hsm, sign_action, &sign))
        });
        let mut verify = sign.clone();
        verify["SignatureValue"] = call(&hsm, sign_action, &sign)["Signature"].clone();
        group.bench_function(format!("{verify_action} {label}"), |b| {
            b.iter(|| call(&hsm, verify_action, &verify))
        });
    }
    group.finish();
}

fn durable(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let hsm = Hsm::open(HsmConfig::directory(dir.path()).with_mock_clock()).expect("open");
    let mut group = c.benchmark_group("hsm/durable");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let mut n = 0u64;
    group.bench_function("CreateKey (SM4, fsync)", |b| {
        b.iter(|| {
            n += 1;
            create(&hsm, &format!("k{n}"), "ENCRYPT_DECRYPT")
        })
    });
    let id = create(&hsm, "rotating", "ENCRYPT_DECRYPT");
    call(&hsm, "EnableKeyRotation", &json!({"KeyId": id}));
    let clock = hsm.mock_clock().expect("mock clock").clone();
    let rotate = json!({"KeyId": id});
    group.bench_function("RotateKey (fsync)", |b| {
        b.iter(|| {
            clock.advance(86_401); // one rotation per 24 h
            call(&hsm, "RotateKey", &rotate)
        })
    });
    group.finish();
}

fn open_large_store(c: &mut Criterion) {
    const KEYS: usize = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let hsm = Hsm::open(HsmConfig::directory(dir.path())).expect("open");
        let mut seed = String::from("version = 1\n");
        for i in 0..KEYS {
            seed.push_str(&format!(
                "[[keys]]\nkey_id = \"00000000-0000-4000-8000-{i:012x}\"\nalias = \"k{i}\"\n"
            ));
        }
        hsm.apply_seed(&seed).expect("seed 100k keys");
    }
    let mut group = c.benchmark_group("hsm/store");
    group.sample_size(10);
    group.bench_function("open with 100,000 keys", |b| {
        b.iter_batched(
            || (),
            |()| Arc::new(Hsm::open(HsmConfig::directory(dir.path())).expect("open")),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    symmetric,
    asymmetric,
    post_quantum,
    durable,
    open_large_store
);
criterion_main!(benches);
