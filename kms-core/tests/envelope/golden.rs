//! Checked-in envelopes keep the format stable: they must keep decrypting.
//! They were sealed for `TestKey::new(90)` (and `TestKey::kms(91)`); regenerate only for a new
//! format version, with `TKMS_WRITE_GOLDEN=1 cargo test -p kms-core --test envelope golden`.

use std::path::PathBuf;

use kms_core::{EncryptOptions, EncryptionContext, Suite, decrypt, encrypt, parse_header};

use crate::support::{TestKey, pattern};

struct Case {
    file: &'static str,
    suite: Suite,
    frame_size: u32,
    len: usize,
    context: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
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

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/envelope")
        .join(file)
}

#[test]
fn golden_envelopes_decrypt() {
    let writing = std::env::var_os("TKMS_WRITE_GOLDEN").is_some();
    for case in CASES {
        let context: EncryptionContext = case.context.iter().copied().collect();
        let (local, kms) = (TestKey::new(90), TestKey::kms(91));
        if writing {
            let opts = EncryptOptions {
                suite: case.suite,
                context: context.clone(),
                frame_size: case.frame_size,
            };
            std::fs::write(
                path(case.file),
                encrypt(&pattern(case.len), &[&local, &kms], &opts).unwrap(),
            )
            .unwrap();
        }
        let envelope = std::fs::read(path(case.file)).unwrap();
        let (header, _) = parse_header(&envelope).unwrap();
        assert_eq!(
            (header.version, header.suite, header.frame_size),
            (1, case.suite, case.frame_size),
            "{}",
            case.file
        );
        assert_eq!(
            decrypt(&envelope, &[&local], &context).unwrap(),
            pattern(case.len),
            "{}",
            case.file
        );
        assert_eq!(
            decrypt(&envelope, &[&kms], &context).unwrap(),
            pattern(case.len),
            "{}",
            case.file
        );
    }
}
