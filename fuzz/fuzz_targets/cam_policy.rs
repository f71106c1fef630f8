//! The CAM policy parser and evaluator (docs/cam.md) on arbitrary input: never a panic, and a
//! policy that parses can be evaluated against any request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mock_hsm::{AccessRequest, CamConfig, KeyResource, Policy, parse_time};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_time(text);
    if Policy::parse(text).is_ok() {
        // Wrap it in a config so the evaluator runs over it too.
        let config = format!(
            "[policies]\np = {}\n[[accounts]]\nuin = 1\n[[users]]\nname = \"u\"\naccount = 1\nkind = \"sub_user\"\nsecret_id = \"AKIDu\"\nsecret_key = \"k\"\npolicies = [\"p\"]\n",
            toml_string(text)
        );
        if let Ok(config) = CamConfig::parse(&config)
            && let Some(grant) = config.grant("AKIDu")
        {
            for (owner, key) in [(1, Some("0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e")), (2, None)] {
                let resource = KeyResource {
                    key_id: key.map(str::to_owned),
                    region: "ap-guangzhou".into(),
                    owner_uin: owner,
                    tags: vec![("env".into(), "production".into())],
                };
                let request = AccessRequest {
                    action: "Encrypt",
                    caller_uin: 1,
                    resource: &resource,
                    source_ip: Some("10.1.2.3".parse().expect("an address")),
                    now: 1_767_225_600,
                    encryption_context: Some(r#"{"app":"billing"}"#),
                };
                let _ = config.authorize(&grant, &request);
            }
        }
    }
    // The whole config format too (TOML with embedded policies).
    let _ = CamConfig::parse(text);
});

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
