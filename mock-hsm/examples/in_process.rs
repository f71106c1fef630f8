//! Envelope-style use of the mock with no server: kms-core's `KmsClient` over `InProcess`.
//!
//! ```sh
//! cargo run -p mock-hsm --example in_process
//! ```

use std::sync::Arc;

use kms_core::kms::KmsClient;
use mock_hsm::{CallContext, Hsm, HsmConfig, InProcess, KmsApi};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory())?);
    let kms = InProcess::new(hsm.clone());

    // CreateKey is not among KmsClient's typed calls: use the API directly.
    let ctx = CallContext {
        account_uin: mock_hsm::DEFAULT_ACCOUNT_UIN,
        identity: "root".into(),
        region: hsm.default_region().into(),
        request_id: "example".into(),
        source_ip: None,
    };
    let created = hsm.dispatch(&ctx, "CreateKey", br#"{"Alias": "example"}"#)?;
    let created: serde_json::Value = serde_json::from_slice(&created)?;
    let key_id = created["KeyId"]
        .as_str()
        .ok_or("CreateKey returned no KeyId")?;

    let data_key = kms.generate_data_key(key_id, 32, Some(r#"{"app":"example"}"#))?;
    let opened = kms.decrypt(&data_key.ciphertext_blob, Some(r#"{"app":"example"}"#))?;
    assert_eq!(
        opened.plaintext.expose_secret(),
        data_key.plaintext.expose_secret()
    );
    let summary = kms.describe_key(key_id)?;
    println!(
        "CMK {} ({}, Type {}) wrapped a 32-byte data key: {}",
        summary.key_id, summary.key_state, summary.key_type, data_key.ciphertext_blob
    );
    Ok(())
}
