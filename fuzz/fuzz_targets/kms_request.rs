//! The mock's request handling on arbitrary input: the first byte picks an action, the rest is
//! its JSON body (and, for Decrypt/ReEncrypt, a CiphertextBlob). Every outcome must be a result
//! or a Tencent error, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mock_hsm::{CallContext, Hsm, HsmConfig, KmsApi};

const ACTIONS: &[&str] = &[
    "Decrypt", "ReEncrypt", "Encrypt", "GenerateDataKey", "CreateKey", "DescribeKey",
    "ListKeyDetail", "AsymmetricSm2Decrypt", "AsymmetricRsaDecrypt", "SignByAsymmetricKey",
    "ImportKeyMaterial", "ScheduleKeyDeletion", "EnableKeyRotation", "GetPublicKey",
];

fn hsm() -> &'static Hsm {
    static HSM: OnceLock<Hsm> = OnceLock::new();
    HSM.get_or_init(|| Hsm::open(HsmConfig::in_memory()).expect("an in-memory HSM opens"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let action = ACTIONS[selector as usize % ACTIONS.len()];
    let ctx = CallContext {
        account_uin: 100_000_000_001,
        identity: "root".into(),
        region: "ap-guangzhou".into(),
        request_id: "fuzz".into(),
        source_ip: None,
    };
    // Raw body as JSON, and the same bytes as a CiphertextBlob string.
    let _ = hsm().dispatch(&ctx, action, body);
    if let Ok(blob) = std::str::from_utf8(body) {
        let params = serde_json::json!({ "CiphertextBlob": blob }).to_string();
        let _ = hsm().dispatch(&ctx, action, params.as_bytes());
    }
});
