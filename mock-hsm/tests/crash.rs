//! Crash safety and multi-process sharing of the on-disk store (harness = false: the binary is
//! both the test and, with TKMS_CRASH_WRITER_DIR set, the writer child it kills).
//!
//! The writer creates keys, enables rotation, rotates and encrypts, printing each result only
//! after the call returned. The parent SIGKILLs it at random points 30 times; every line it saw
//! must still be true when the store is reopened.

#![allow(clippy::unwrap_used)] // a test binary (harness = false), so not cfg(test)

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_hsm::{CallContext, Hsm, HsmConfig, KmsApi, RootKeySource};
use serde_json::{Value, json};

const CHILD_ENV: &str = "TKMS_CRASH_WRITER_DIR";

fn ctx() -> CallContext {
    CallContext {
        account_uin: 7,
        identity: "root".into(),
        region: "ap-guangzhou".into(),
        request_id: "crash".into(),
        source_ip: None,
    }
}

fn call(hsm: &Hsm, action: &str, params: Value) -> Result<Value, mock_hsm::ApiError> {
    hsm.dispatch(&ctx(), action, &serde_json::to_vec(&params).unwrap())
        .map(|v| serde_json::from_slice(&v).unwrap())
}

fn writer(dir: &Path) {
    let hsm = Hsm::open(HsmConfig::directory(dir)).expect("writer opens the store");
    let out = std::io::stdout();
    let tag = format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    for n in 0.. {
        let created =
            call(&hsm, "CreateKey", json!({"Alias": format!("k-{tag}-{n}")})).expect("CreateKey");
        let id = created["KeyId"].as_str().unwrap().to_owned();
        writeln!(out.lock(), "created {id}").unwrap();
        call(
            &hsm,
            "EnableKeyRotation",
            json!({"KeyId": id, "RotateDays": 30}),
        )
        .expect("EnableKeyRotation");
        call(&hsm, "RotateKey", json!({"KeyId": id})).expect("RotateKey");
        writeln!(out.lock(), "rotated {id} 2").unwrap();
        let blob = call(
            &hsm,
            "Encrypt",
            json!({"KeyId": id, "Plaintext": "c3Vydml2ZQ=="}),
        )
        .expect("Encrypt");
        writeln!(
            out.lock(),
            "blob {id} {}",
            blob["CiphertextBlob"].as_str().unwrap()
        )
        .unwrap();
    }
}

fn spawn(dir: &Path, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn writer")
}

#[derive(Default)]
struct Acked {
    created: Vec<String>,
    rotated: BTreeMap<String, u32>,
    blobs: Vec<(String, String)>,
}

/// Kills the child after `after`, then reads everything it printed; returns how many results it
/// acknowledged. The writer never stops by itself and prints nothing on stderr, so it must die of
/// our SIGKILL with stderr empty: a panic (on a lock error, say) fails the test with its message,
/// even when the kill lands while the panic is still unwinding.
fn kill_and_collect(mut child: Child, after: Duration, acked: &mut Acked) -> usize {
    use std::os::unix::process::ExitStatusExt as _;
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    let stdout = child.stdout.take().unwrap();
    let mut lines = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["created", id] => acked.created.push((*id).to_owned()),
            ["rotated", id, v] => {
                acked.rotated.insert((*id).to_owned(), v.parse().unwrap());
            }
            ["blob", id, blob] => acked.blobs.push(((*id).to_owned(), (*blob).to_owned())),
            _ => continue, // a line torn by the kill was never complete, so never acknowledged
        }
        lines += 1;
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(
        stderr.is_empty(),
        "the writer failed; its stderr:\n{stderr}"
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer ended by itself ({status}) instead of by SIGKILL; its stderr:\n{stderr}"
    );
    lines
}

fn verify(dir: &Path, acked: &Acked, source: RootKeySource) {
    let hsm = Arc::new(
        Hsm::open(HsmConfig::directory(dir).with_root_key(source))
            .expect("store opens after a crash"),
    );
    for id in &acked.created {
        let v = call(&hsm, "DescribeKey", json!({"KeyId": id}))
            .unwrap_or_else(|e| panic!("acknowledged key {id} lost: {e}"));
        assert_eq!(v["KeyMetadata"]["KeyState"], "Enabled");
    }
    for (id, version) in &acked.rotated {
        let v = call(&hsm, "DescribeKey", json!({"KeyId": id})).unwrap();
        assert!(
            v["KeyMetadata"]["LastRotateTime"].as_u64().unwrap() > 0,
            "rotation of {id} lost"
        );
        let blob = call(&hsm, "Encrypt", json!({"KeyId": id, "Plaintext": "eA=="})).unwrap();
        let header = base64_decode(
            blob["CiphertextBlob"]
                .as_str()
                .unwrap()
                .split("-k-")
                .next()
                .unwrap(),
        );
        let newest = u32::from_be_bytes(header[41..45].try_into().unwrap());
        assert!(
            newest >= *version,
            "acknowledged version {version} of {id} lost (newest {newest})"
        );
    }
    for (id, blob) in &acked.blobs {
        let v = call(&hsm, "Decrypt", json!({"CiphertextBlob": blob}))
            .unwrap_or_else(|e| panic!("blob of {id} no longer opens: {e}"));
        assert_eq!(v["Plaintext"], "c3Vydml2ZQ==");
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn crash_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Acked::default();
    for round in 0..30u64 {
        let mut delay = [0u8; 2];
        getrandom::fill(&mut delay).unwrap();
        let ms = 5 + u64::from(u16::from_le_bytes(delay)) % 300;
        kill_and_collect(
            spawn(dir.path(), &[]),
            Duration::from_millis(ms),
            &mut acked,
        );
        if round % 10 == 9 {
            verify(dir.path(), &acked, RootKeySource::Default);
        }
    }
    verify(dir.path(), &acked, RootKeySource::Default);
    assert!(
        acked.created.len() >= 10,
        "the writer made progress ({} keys)",
        acked.created.len()
    );
    println!(
        "crash_at_random_points: 30 kills, {} keys, {} rotations, {} blobs survived",
        acked.created.len(),
        acked.rotated.len(),
        acked.blobs.len()
    );
}

/// How many keys the writer with process id `pid` has created (its aliases start `k-PID-`).
fn keys_of_writer(reader: &Hsm, pid: u32) -> usize {
    let listed = call(reader, "ListKeyDetail", json!({"Limit": 200})).expect("concurrent reader");
    let prefix = format!("k-{pid}-");
    listed["KeyMetadatas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["Alias"].as_str().unwrap().starts_with(&prefix))
        .count()
}

fn two_processes_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    // Create the root key first so both writers use the same one.
    drop(Hsm::open(HsmConfig::directory(dir.path())).unwrap());
    let mut acked = Acked::default();
    let a = spawn(dir.path(), &[]);
    let b = spawn(dir.path(), &[]);
    // The parent reads concurrently too.
    let reader = Hsm::open(HsmConfig::directory(dir.path())).unwrap();
    // Read for at least 1.5 s, and until each writer has created two keys (so finished its
    // first round of three results): a fixed window flaked on a loaded machine. A writer that
    // is locked out never gets there, and the deadline ends the wait.
    let (pid_a, pid_b) = (a.id(), b.id());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(60);
    loop {
        let both_progressed =
            keys_of_writer(&reader, pid_a) >= 2 && keys_of_writer(&reader, pid_b) >= 2;
        let now = Instant::now();
        if (both_progressed && now - start >= Duration::from_millis(1500)) || now >= deadline {
            break;
        }
    }
    let from_a = kill_and_collect(a, Duration::ZERO, &mut acked);
    let from_b = kill_and_collect(b, Duration::ZERO, &mut acked);
    // Both wrote while sharing the store: neither was locked out.
    assert!(
        from_a >= 3 && from_b >= 3,
        "writer progress: a {from_a}, b {from_b} results"
    );
    verify(dir.path(), &acked, RootKeySource::Default);
    let listed = call(&reader, "ListKeys", json!({"Limit": 200})).unwrap();
    assert!(listed["TotalCount"].as_u64().unwrap() as usize >= acked.created.len());
    println!(
        "two_processes_share_one_store: {} keys from two writers",
        acked.created.len()
    );
}

fn root_key_from_environment() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let key = [0x42u8; 32];
    let mut acked = Acked::default();
    let env = [(
        "TKMS_HSM_ROOT_KEY",
        base64::engine::general_purpose::STANDARD.encode(key),
    )];
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), key).unwrap();
    let writer = spawn(dir.path(), &env);
    // Let the writer finish its first round (two keys created), however slow the machine: a
    // fixed 400 ms flaked under load. A writer refused its root key never gets there.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.path().join(mock_hsm::DB_FILE).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let source = RootKeySource::File(key_file.path().to_path_buf());
    if let Ok(reader) = Hsm::open(HsmConfig::directory(dir.path()).with_root_key(source)) {
        while keys_of_writer(&reader, writer.id()) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let progress = kill_and_collect(writer, Duration::ZERO, &mut acked);
    // The writer worked under the environment's root key (a refused key would have ended it).
    assert!(
        progress >= 3,
        "the writer made progress ({progress} results)"
    );
    assert!(
        !dir.path().join("root.key").exists(),
        "no root key file when the environment supplies it"
    );
    verify(
        dir.path(),
        &acked,
        RootKeySource::File(key_file.path().to_path_buf()),
    );
    // Any other key is refused with a clear error.
    match Hsm::open(HsmConfig::directory(dir.path())) {
        Err(mock_hsm::OpenError::WrongRootKey) => {}
        other => panic!("expected WrongRootKey, got {other:?}"),
    }
    println!("root_key_from_environment: ok");
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        writer(Path::new(&dir));
        return;
    }
    crash_at_random_points();
    two_processes_share_one_store();
    root_key_from_environment();
}
