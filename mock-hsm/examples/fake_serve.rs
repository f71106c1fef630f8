// TEMPORARY (not committed): a toy backend to drive the Python suite before hsm lands.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mock_hsm::server::{RootCredentials, ServeOptions};
use mock_hsm::{ApiError, CallContext, KmsApi, MockClock};
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[derive(Default)]
struct Toy {
    keys: Mutex<HashMap<String, String>>,
    clock: MockClock,
}

impl KmsApi for Toy {
    fn dispatch(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let p: Value = serde_json::from_slice(params)
            .map_err(|e| ApiError::new("InvalidParameter", e.to_string()))?;
        let mut keys = self.keys.lock().unwrap();
        let s = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut out = match action {
            "GenerateRandom" => {
                let n = p["NumberOfBytes"]
                    .as_u64()
                    .ok_or_else(|| ApiError::new("InvalidParameter", "n"))?;
                let mut b = vec![0u8; n as usize];
                getrandom::fill(&mut b).unwrap();
                json!({"Plaintext": B64.encode(b)})
            }
            "CreateKey" => {
                let id = uuid::Uuid::new_v4().to_string();
                keys.insert(id.clone(), "Enabled".into());
                json!({"KeyId": id, "Alias": s("Alias"), "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT"})
            }
            "DescribeKeys" => {
                let ids: Vec<Value> = p["KeyIds"].as_array().cloned().unwrap_or_default();
                json!({"KeyMetadatas": ids.iter().map(|i| json!({"KeyId": i})).collect::<Vec<_>>()})
            }
            "ListKeys" => {
                json!({"TotalCount": keys.len(), "Keys": keys.keys().map(|k| json!({"KeyId": k})).collect::<Vec<_>>()})
            }
            "DisableKey" => {
                keys.insert(s("KeyId"), "Disabled".into());
                json!({})
            }
            "Encrypt" => {
                let id = s("KeyId");
                if keys.get(&id).map(String::as_str) == Some("Disabled") {
                    return Err(ApiError::new("ResourceUnavailable.CmkDisabled", "disabled"));
                }
                json!({"KeyId": id, "CiphertextBlob": B64.encode(json!([id, s("Plaintext"), s("EncryptionContext")]).to_string())})
            }
            "Decrypt" => {
                let v: Value =
                    serde_json::from_slice(&B64.decode(s("CiphertextBlob")).unwrap()).unwrap();
                if v[2] != s("EncryptionContext") {
                    return Err(ApiError::new(
                        "InvalidParameterValue.InvalidCiphertext",
                        "ctx",
                    ));
                }
                json!({"KeyId": v[0], "Plaintext": v[1]})
            }
            _ => return Err(ApiError::new("UnsupportedOperation", "toy")),
        };
        out["RequestId"] = json!(ctx.request_id);
        Ok(Zeroizing::new(serde_json::to_vec(&out).unwrap()))
    }
    fn mock_clock(&self) -> Option<&MockClock> {
        Some(&self.clock)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .map(|i| args[i + 1].parse().unwrap())
        .unwrap();
    let (root, _) = RootCredentials::resolve(None).unwrap();
    let mut options = ServeOptions::with_root(&root);
    options.listen = listen;
    options.test_controls = true;
    mock_hsm::server::serve_blocking(Arc::new(Toy::default()), options).unwrap();
}
