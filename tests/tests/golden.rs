//! Golden envelopes, the one suite of them: checked-in files that must keep decrypting forever
//! (the v1 format is frozen).
//! - One file per suite and real wrapping method; the KMS-wrapped ones open through the mock
//!   HSM seeded from `tests/testdata/golden/seed.toml` (fixed, test-only key material).
//! - `v1_*`: frame layouts (several frames, empty, one full frame) sealed for two of kms-core's
//!   fixed-key test wrappers (`TestKey::new(90)`, `TestKey::kms(91)` in
//!   kms-core/tests/envelope/support.rs).
//!
//! Regenerate (only when adding a case, never to "fix" a failure): `TKMS_WRITE_GOLDEN=1 cargo test -p tkms-tests --test golden`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use kms_core::kms::KmsTransport;
use kms_core::wrap::kms::{KmsUnwrapper, KmsWrapper};
use kms_core::wrap::local::LocalWrapper;
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod};
use kms_core::{EncryptOptions, EncryptionContext, Suite};
use mock_hsm::{Hsm, HsmConfig, InProcess};

#[path = "../../kms-core/tests/envelope/support.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;

use support::{TestKey, pattern};

const PLAINTEXT: &[u8] = b"tkms golden envelope v1: this plaintext must decrypt forever.\n";
const FRAME_SIZE: u32 = 64;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn kms() -> Arc<dyn KmsTransport> {
    let hsm = Hsm::open(HsmConfig::in_memory().with_seed_file(dir().join("seed.toml")))
        .expect("the golden seed applies");
    Arc::new(InProcess::new(Arc::new(hsm)))
}

fn context() -> EncryptionContext {
    EncryptionContext::new()
        .with("purpose", "golden")
        .with("tenant", "t-1")
}

fn local(name: &str) -> LocalWrapper {
    let pem = std::fs::read(dir().join(name)).expect("test key present");
    LocalWrapper::from_key(&pem).expect("test key parses")
}

/// (file stem, wrapper for sealing, expected method, expected key reference kind).
fn cases(kms: &Arc<dyn KmsTransport>) -> Vec<(String, Box<dyn KeyWrapper>, Suite, WrapMethod)> {
    let mut out: Vec<(String, Box<dyn KeyWrapper>, Suite, WrapMethod)> = Vec::new();
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let s = suite.name();
        let kms_key = |alias: &str| -> Box<dyn KeyWrapper> {
            Box::new(KmsWrapper::for_key(kms.clone(), alias).expect("seeded key resolves"))
        };
        let cmk = if suite == Suite::Aes256Gcm {
            "golden-aes"
        } else {
            "golden-sm4"
        };
        out.push((
            format!("{s}_kms-symmetric"),
            kms_key(cmk),
            suite,
            WrapMethod::KmsSymmetric,
        ));
        out.push((
            format!("{s}_kms-rsa"),
            kms_key("golden-kms-rsa"),
            suite,
            WrapMethod::RsaOaepSha256,
        ));
        out.push((
            format!("{s}_kms-sm2"),
            kms_key("golden-kms-sm2"),
            suite,
            WrapMethod::Sm2,
        ));
        out.push((
            format!("{s}_local-rsa"),
            Box::new(local("local-rsa.pub.pem")),
            suite,
            WrapMethod::RsaOaepSha256,
        ));
        out.push((
            format!("{s}_local-sm2"),
            Box::new(local("local-sm2.pub.pem")),
            suite,
            WrapMethod::Sm2,
        ));
    }
    out
}

#[test]
fn golden_envelopes_keep_decrypting() {
    let kms = kms();
    let write = std::env::var_os("TKMS_WRITE_GOLDEN").is_some();
    let kms_unwrapper = KmsUnwrapper::new(kms.clone());
    let rsa_identity = local("local-rsa.key.pem");
    let sm2_identity = local("local-sm2.key.pem");
    let identities: [&dyn KeyWrapper; 3] = [&kms_unwrapper, &rsa_identity, &sm2_identity];

    let cases = cases(&kms);
    assert_eq!(cases.len(), 10, "two suites x five wrapping methods");
    for (stem, wrapper, suite, method) in cases {
        let path = dir().join(format!("{stem}.tkms"));
        if write {
            let options = EncryptOptions {
                suite,
                context: context(),
                frame_size: FRAME_SIZE,
            };
            let sealed = kms_core::encrypt(PLAINTEXT, &[wrapper.as_ref()], &options).unwrap();
            std::fs::write(&path, sealed).unwrap();
        }
        let sealed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

        let (header, _) = kms_core::parse_header(&sealed).unwrap();
        assert_eq!(header.suite, suite, "{stem}");
        assert_eq!(header.frame_size, FRAME_SIZE, "{stem}");
        assert_eq!(header.context, context(), "{stem}");
        assert_eq!(header.wrapped_keys.len(), 1, "{stem}");
        assert_eq!(header.wrapped_keys[0].method, method, "{stem}");
        let is_kms = matches!(header.wrapped_keys[0].key_ref, KeyRef::Kms { .. });
        assert_eq!(is_kms, stem.contains("_kms-"), "{stem}");

        let opened = kms_core::decrypt(&sealed, &identities, &context())
            .unwrap_or_else(|e| panic!("{stem} no longer decrypts: {e}"));
        assert_eq!(opened, PLAINTEXT, "{stem}");

        // The golden bytes are authenticated: one flipped body byte must fail.
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(
            matches!(
                kms_core::decrypt(&tampered, &identities, &context()),
                Err(kms_core::DecryptError::DecryptionFailed)
            ),
            "{stem}"
        );
    }
}

struct Case {
    file: &'static str,
    suite: Suite,
    frame_size: u32,
    len: usize,
    context: &'static [(&'static str, &'static str)],
}

const FRAME_CASES: &[Case] = &[
    Case {
        file: "v1_aes256gcm_frames.tkms",
        suite: Suite::Aes256Gcm,
        frame_size: 64,
        len: 200,
        context: &[("app", "golden")],
    },
    Case {
        file: "v1_sm4gcm_frames.tkms",
        suite: Suite::Sm4Gcm,
        frame_size: 64,
        len: 200,
        context: &[("app", "golden")],
    },
    Case {
        file: "v1_aes256gcm_empty.tkms",
        suite: Suite::Aes256Gcm,
        frame_size: 65_536,
        len: 0,
        context: &[],
    },
    Case {
        file: "v1_sm4gcm_one_frame.tkms",
        suite: Suite::Sm4Gcm,
        frame_size: 65_536,
        len: 1000,
        context: &[],
    },
];

#[test]
fn golden_frame_layouts_decrypt() {
    let writing = std::env::var_os("TKMS_WRITE_GOLDEN").is_some();
    for case in FRAME_CASES {
        let path = dir().join(case.file);
        let context: EncryptionContext = case.context.iter().copied().collect();
        let (local, kms) = (TestKey::new(90), TestKey::kms(91));
        if writing {
            let opts = EncryptOptions {
                suite: case.suite,
                context: context.clone(),
                frame_size: case.frame_size,
            };
            std::fs::write(
                &path,
                kms_core::encrypt(&pattern(case.len), &[&local, &kms], &opts).unwrap(),
            )
            .unwrap();
        }
        let envelope = std::fs::read(&path).unwrap();
        let (header, _) = kms_core::parse_header(&envelope).unwrap();
        assert_eq!(
            (header.version, header.suite, header.frame_size),
            (1, case.suite, case.frame_size),
            "{}",
            case.file
        );
        assert_eq!(
            kms_core::decrypt(&envelope, &[&local], &context).unwrap(),
            pattern(case.len),
            "{}",
            case.file
        );
        assert_eq!(
            kms_core::decrypt(&envelope, &[&kms], &context).unwrap(),
            pattern(case.len),
            "{}",
            case.file
        );
    }
}
