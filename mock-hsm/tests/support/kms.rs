//! Shared helpers: a JSON front door onto an `Hsm`, as the server and SDKs use it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;

use mock_hsm::{ApiError, CallContext, Hsm, HsmConfig, KmsApi, MockClock};
use serde_json::{Value, json};

pub const DAY: u64 = 86_400;
pub const UIN: u64 = 100_000_000_001;

pub struct Kms {
    pub hsm: Arc<Hsm>,
    pub ctx: CallContext,
}

impl Kms {
    /// An in-memory HSM with a mock clock, region ap-guangzhou (SM4).
    pub fn new() -> Self {
        Self::open(HsmConfig::in_memory().with_mock_clock())
    }

    pub fn open(config: HsmConfig) -> Self {
        Self::with(Arc::new(Hsm::open(config).expect("open hsm")))
    }

    pub fn with(hsm: Arc<Hsm>) -> Self {
        let region = hsm.default_region().to_owned();
        Self {
            hsm,
            ctx: CallContext {
                account_uin: UIN,
                identity: "root".into(),
                region,
                request_id: "00000000-0000-4000-8000-000000000000".into(),
                source_ip: None,
            },
        }
    }

    pub fn region(&self, region: &str) -> Self {
        let mut ctx = self.ctx.clone();
        ctx.region = region.into();
        Self {
            hsm: self.hsm.clone(),
            ctx,
        }
    }

    pub fn account(&self, uin: u64) -> Self {
        let mut ctx = self.ctx.clone();
        ctx.account_uin = uin;
        Self {
            hsm: self.hsm.clone(),
            ctx,
        }
    }

    pub fn clock(&self) -> &MockClock {
        self.hsm.mock_clock().expect("mock clock")
    }

    pub fn call(&self, action: &str, params: Value) -> Result<Value, ApiError> {
        let body = serde_json::to_vec(&params).unwrap();
        self.hsm
            .dispatch(&self.ctx, action, &body)
            .map(|out| serde_json::from_slice(&out).expect("response is JSON"))
    }

    #[track_caller]
    pub fn ok(&self, action: &str, params: Value) -> Value {
        match self.call(action, params) {
            Ok(v) => {
                assert_eq!(
                    v["RequestId"],
                    json!(self.ctx.request_id),
                    "RequestId echoed"
                );
                v
            }
            Err(e) => panic!("{action} failed: {e}"),
        }
    }

    #[track_caller]
    pub fn code(&self, action: &str, params: Value) -> String {
        match self.call(action, params) {
            Ok(v) => panic!("{action} unexpectedly succeeded: {v}"),
            Err(e) => {
                assert!(!e.message.is_empty());
                e.code
            }
        }
    }

    pub fn create(&self, alias: &str, usage: &str) -> String {
        let v = self.ok("CreateKey", json!({"Alias": alias, "KeyUsage": usage}));
        v["KeyId"].as_str().unwrap().to_owned()
    }

    pub fn create_sym(&self, alias: &str) -> String {
        self.create(alias, "ENCRYPT_DECRYPT")
    }

    pub fn meta(&self, key_id: &str) -> Value {
        self.ok("DescribeKey", json!({"KeyId": key_id}))["KeyMetadata"].clone()
    }

    pub fn state(&self, key_id: &str) -> String {
        self.meta(key_id)["KeyState"].as_str().unwrap().to_owned()
    }

    pub fn encrypt(&self, key_id: &str, plaintext: &[u8], context: Option<&str>) -> String {
        let mut p = json!({"KeyId": key_id, "Plaintext": b64(plaintext)});
        if let Some(c) = context {
            p["EncryptionContext"] = json!(c);
        }
        self.ok("Encrypt", p)["CiphertextBlob"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn decrypt(&self, blob: &str, context: Option<&str>) -> Result<Vec<u8>, ApiError> {
        let mut p = json!({"CiphertextBlob": blob});
        if let Some(c) = context {
            p["EncryptionContext"] = json!(c);
        }
        self.call("Decrypt", p)
            .map(|v| unb64(v["Plaintext"].as_str().unwrap()))
    }
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

pub trait DispatchRaw {
    fn dispatch_raw(&self, ctx: &CallContext, action: &str, body: &[u8])
    -> Result<Value, ApiError>;
}

impl DispatchRaw for Hsm {
    fn dispatch_raw(
        &self,
        ctx: &CallContext,
        action: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        self.dispatch(ctx, action, body)
            .map(|out| serde_json::from_slice(&out).unwrap())
    }
}
