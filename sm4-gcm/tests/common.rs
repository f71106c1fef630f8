//! Helpers shared by the integration tests: forcing each backend, counting the ones run.
#![allow(dead_code, clippy::unwrap_used)] // test helpers; each test file uses a subset

use std::sync::Mutex;
use tkms_sm4::{Backend, Sm4Gcm};

/// Backends that actually ran in this test process (a backend the CPU lacks is not here).
pub(crate) static RAN: Mutex<Vec<Backend>> = Mutex::new(Vec::new());

/// What the CPU offers, computed independently of the crate's own detection.
pub(crate) fn cpu_has(backend: Backend) -> bool {
    let clmul = std::is_x86_feature_detected!("pclmulqdq")
        && std::is_x86_feature_detected!("ssse3")
        && std::is_x86_feature_detected!("sse4.1");
    match backend {
        Backend::Gfni512 => {
            clmul
                && std::is_x86_feature_detected!("gfni")
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("vpclmulqdq")
                && std::is_x86_feature_detected!("avx2")
        }
        Backend::Gfni256 => {
            clmul && std::is_x86_feature_detected!("gfni") && std::is_x86_feature_detected!("avx2")
        }
        Backend::VaesAvx2 => {
            clmul
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("aes")
                && std::is_x86_feature_detected!("vaes")
        }
        Backend::AesNi => clmul && std::is_x86_feature_detected!("aes"),
        _ => true,
    }
}

/// `Sm4Gcm` forced onto `backend`, or `None` after printing why it was not run.
pub(crate) fn forced(key: &[u8; 16], backend: Backend, test: &str) -> Option<Sm4Gcm> {
    match Sm4Gcm::with_backend(key, backend) {
        Some(gcm) => {
            assert_eq!(gcm.backend(), backend);
            Some(gcm)
        }
        None => {
            assert!(
                !cpu_has(backend),
                "{backend:?} refused although the CPU has its features"
            );
            eprintln!("SKIPPED {test} on {backend:?}: CPU lacks its instructions");
            None
        }
    }
}

/// Records that `backend` passed a test.
pub(crate) fn ran(backend: Backend) {
    RAN.lock().unwrap().push(backend);
}

pub(crate) fn hex16(s: &str) -> [u8; 16] {
    hex::decode(s).unwrap().try_into().unwrap()
}

pub(crate) fn hex12(s: &str) -> [u8; 12] {
    hex::decode(s).unwrap().try_into().unwrap()
}
