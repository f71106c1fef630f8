//! TLS failures say what is wrong with the endpoint's certificate and how to trust a private CA
//! (docs/cli.md, "HTTPS endpoints and private CAs"). A throwaway CA made with the openssl
//! command, `openssl s_server` on 127.0.0.1 as the TLS terminator, the real binary as client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const TKMS: &str = env!("CARGO_BIN_EXE_tkms");

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and leaf certificates signed by it: `good` for 127.0.0.1, `other` for another host,
/// `expired` for 127.0.0.1 but valid only in 2020.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=tkms test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("index.txt"), "").expect("index");
    std::fs::write(dir.join("serial"), "1000\n").expect("serial");
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nserial = serial\n\
         new_certs_dir = .\ndefault_md = sha256\npolicy = any\ncopy_extensions = none\n\
         unique_subject = no\n[any]\ncommonName = supplied\n\
         [good]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\n\
         [other]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:kms.other.example\n",
    )
    .expect("ca config");
    for (name, extensions, validity) in [
        ("good", "good", &["-days", "2"][..]),
        ("other", "other", &["-days", "2"]),
        (
            "expired",
            "good",
            &[
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
            ],
        ),
    ] {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        openssl(
            dir,
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    "/CN=tkms test server",
                ],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                &[
                    "ca",
                    "-batch",
                    "-config",
                    "ca.cnf",
                    "-cert",
                    "ca.pem",
                    "-keyfile",
                    "ca.key",
                    "-extensions",
                    extensions,
                    "-in",
                    &csr,
                    "-out",
                    &pem,
                    "-notext",
                ][..],
                validity,
            ]
            .concat(),
        );
    }
}

/// `openssl s_server` presenting `name`'s certificate on 127.0.0.1; killed on drop.
struct Terminator {
    child: Child,
    port: u16,
}

impl Terminator {
    fn start(dir: &Path, name: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("openssl")
            .args(["s_server", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-cert",
                &format!("{name}.pem"),
                "-key",
                &format!("{name}.key"),
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let stdout = child.stdout.take().expect("piped");
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("ACCEPT"));
        assert!(ready, "openssl s_server did not start");
        Self { child, port }
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key_list(port: u16, ca_file: Option<&PathBuf>, data_dir: &Path) -> Output {
    let mut command = Command::new(TKMS);
    command
        .args(["key", "list"])
        .env("TKMS_ENDPOINT", format!("https://127.0.0.1:{port}"))
        .env("TKMS_DATA_DIR", data_dir)
        .env(
            "TENCENTCLOUD_SECRET_ID",
            "AKIDtest0000000000000000000000000000",
        )
        .env(
            "TENCENTCLOUD_SECRET_KEY",
            "testsecretkey0000000000000000000",
        )
        .env("TENCENTCLOUD_REGION", "ap-guangzhou")
        .env_remove("TENCENTCLOUD_TOKEN")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null());
    if let Some(ca) = ca_file {
        command.env("SSL_CERT_FILE", ca);
    }
    command.output().expect("tkms runs")
}

#[test]
fn certificate_failures_say_what_is_wrong_and_how_to_trust_a_private_ca() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    make_certificates(dir);
    let ca = dir.join("ca.pem");
    let data = dir.join("store");

    // With SSL_CERT_FILE naming the CA, the issuer is trusted: what is left is the name or the
    // dates, so those two cases also show that SSL_CERT_FILE is honoured.
    for (certificate, trust, reason) in [
        ("good", None, "its issuer is unknown"),
        ("other", Some(&ca), "it was issued for another host name"),
        ("expired", Some(&ca), "it has expired"),
    ] {
        let terminator = Terminator::start(dir, certificate);
        let out = key_list(terminator.port, trust, &data);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{certificate}: {stderr}");
        assert!(
            stderr.contains("TLS certificate of the KMS endpoint was refused")
                && stderr.contains(reason),
            "{certificate}: {stderr}"
        );
        assert!(
            stderr.contains("hint: for a private CA, point SSL_CERT_FILE"),
            "{stderr}"
        );
        assert!(!stderr.contains("is `tkms serve` running?"), "{stderr}");
    }
}
