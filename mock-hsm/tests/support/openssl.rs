//! Runs the `openssl` command (OpenSSL 3). A missing openssl fails the test: interop is required.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct OpenSsl {
    pub dir: tempfile::TempDir,
}

impl OpenSsl {
    pub fn new() -> Self {
        let version = Command::new("openssl")
            .arg("version")
            .output()
            .expect("openssl must be installed for interop tests");
        assert!(version.status.success(), "openssl version failed");
        assert!(
            String::from_utf8_lossy(&version.stdout).starts_with("OpenSSL 3"),
            "OpenSSL 3 is required"
        );
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Runs openssl with `args` in the temp dir; panics with stderr on failure.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = self.try_run(args);
        match out {
            Ok(stdout) => stdout,
            Err(stderr) => panic!("openssl {} failed: {stderr}", args.join(" ")),
        }
    }

    pub fn try_run(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn dir_path(&self) -> &Path {
        self.dir.path()
    }
}

/// Tencent RSA algorithm names and the `openssl pkeyutl` options for the same padding.
pub const RSA_PADDINGS: [(&str, &[&str]); 3] = [
    ("RSAES_PKCS1_V1_5", &["-pkeyopt", "rsa_padding_mode:pkcs1"]),
    (
        "RSAES_OAEP_SHA_1",
        &[
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha1",
        ],
    ),
    (
        "RSAES_OAEP_SHA_256",
        &[
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    ),
];

/// The `openssl pkeyutl` options for a Tencent RSA algorithm name (one of [`RSA_PADDINGS`]).
pub fn rsa_padding_args(algorithm: &str) -> &'static [&'static str] {
    RSA_PADDINGS
        .iter()
        .find(|(name, _)| *name == algorithm)
        .map(|(_, args)| *args)
        .unwrap_or_else(|| panic!("no openssl options for {algorithm}"))
}
