//! `tkms serve` end to end: the real binary as a server on 127.0.0.1:0 and as its client, and
//! files moving between the embedded store and a server seeded with the same key.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const TKMS: &str = env!("CARGO_BIN_EXE_tkms");

/// A fixed AES-256 key for both stores (test-only material).
const SEED: &str = r#"version = 1

[[keys]]
key_id = "00000000-0000-4000-8000-00000000c11a"
alias = "shared"
algorithm = "AES_256"
rotation_enabled = false

[[keys.versions]]
version = 1
material = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
"#;

/// A `tkms` command with a clean environment pointing at `data_dir`.
fn tkms(data_dir: &Path) -> Command {
    let mut cmd = Command::new(TKMS);
    for var in [
        "TKMS_ENDPOINT",
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
        "TENCENTCLOUD_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("TKMS_DATA_DIR", data_dir)
        .env("TENCENTCLOUD_REGION", "ap-guangzhou");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("tkms runs")
}

fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `tkms serve`, killed on drop.
struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start(cmd: Command, seed: Option<&Path>) -> Self {
        Self::launch(cmd, seed, Stdio::null()).0
    }

    /// The server, and its stderr when `stderr` is `Stdio::piped()`.
    fn launch(
        mut cmd: Command,
        seed: Option<&Path>,
        stderr: Stdio,
    ) -> (Self, Option<std::process::ChildStderr>) {
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(seed) = seed {
            cmd.arg("--seed").arg(seed);
        }
        let mut child = cmd.spawn().expect("tkms serve starts");
        let stderr = child.stderr.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reads the listening line");
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("got {line:?}"))
            .to_owned();
        (Self { child, endpoint }, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("writes");
    path
}

#[test]
fn round_trip_through_serve_and_the_same_store_in_process() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(tkms(&data), None);
    let plain = write(tmp.path(), "plain", &vec![7u8; 300_000]);
    let sealed = tmp.path().join("sealed.tkms");
    let ep = server.endpoint.as_str();

    ok(tkms(&data).args(["--endpoint", ep, "key", "create", "remote"]));
    ok(tkms(&data)
        .args([
            "--endpoint",
            ep,
            "encrypt",
            "--key",
            "remote",
            "-c",
            "app=t",
        ])
        .arg(&plain)
        .arg("-o")
        .arg(&sealed));
    let out = ok(tkms(&data)
        .args(["--endpoint", ep, "decrypt", "-c", "app=t"])
        .arg(&sealed));
    assert_eq!(out.stdout, std::fs::read(&plain).unwrap());
    // The embedded store on the same data directory holds the same key.
    let out = ok(tkms(&data).args(["decrypt", "-c", "app=t"]).arg(&sealed));
    assert_eq!(out.stdout, std::fs::read(&plain).unwrap());

    // Wrong credentials are a KMS refusal that points at the variables.
    let out = run(tkms(&data)
        .env("TENCENTCLOUD_SECRET_ID", "AKIDnotthisone")
        .env("TENCENTCLOUD_SECRET_KEY", "wrong")
        .args(["--endpoint", ep, "key", "list"]));
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TENCENTCLOUD_SECRET_ID"));

    // A refusal over HTTP has the same exit code and fix as in-process.
    ok(tkms(&data).args(["--endpoint", ep, "key", "disable", "remote"]));
    let out = run(tkms(&data)
        .args(["--endpoint", ep, "decrypt", "-c", "app=t"])
        .arg(&sealed));
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is Disabled in the KMS") && stderr.contains("tkms key enable"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_seeded_key_opens_files_from_the_embedded_store_and_from_serve_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = write(tmp.path(), "seed.toml", SEED.as_bytes());
    let (local, remote) = (tmp.path().join("local"), tmp.path().join("remote"));
    // Seed the embedded store by starting (then stopping) a server on its directory.
    drop(Server::start(tkms(&local), Some(&seed)));
    let server = Server::start(tkms(&remote), Some(&seed));
    let ep = server.endpoint.as_str();
    let plain = write(tmp.path(), "plain", b"same key, two stores\n");
    let (from_local, from_remote) = (
        tmp.path().join("local.tkms"),
        tmp.path().join("remote.tkms"),
    );

    ok(tkms(&local)
        .args(["encrypt", "--key", "shared"])
        .arg(&plain)
        .arg("-o")
        .arg(&from_local));
    ok(tkms(&remote)
        .args(["--endpoint", ep, "encrypt", "--key", "shared"])
        .arg(&plain)
        .arg("-o")
        .arg(&from_remote));

    let out = ok(tkms(&remote)
        .args(["--endpoint", ep, "decrypt"])
        .arg(&from_local));
    assert_eq!(out.stdout, b"same key, two stores\n");
    let out = ok(tkms(&local).args(["decrypt"]).arg(&from_remote));
    assert_eq!(out.stdout, b"same key, two stores\n");
}

#[test]
fn serve_args_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tkms(tmp.path()).args(["serve", "--in-memory", "--listen", "127.0.0.1:0"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TENCENTCLOUD_SECRET_ID"));
    let out = run(tkms(tmp.path()).args(["serve", "--listen", "localhost"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreachable_endpoint_exits_7() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = write(tmp.path(), "plain", b"x");
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(tkms(tmp.path())
        .env("TENCENTCLOUD_SECRET_ID", "AKIDtest")
        .env("TENCENTCLOUD_SECRET_KEY", "test")
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "encrypt",
            "--key",
            "k",
        ])
        .arg(&plain)
        .arg("-o")
        .arg(tmp.path().join("x")));
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!tmp.path().join("x").exists());
}

/// Starts `tkms serve` from `cmd` with stderr kept: the server and its stderr.
fn serve_with_stderr(cmd: Command) -> (Server, std::process::ChildStderr) {
    let (server, stderr) = Server::launch(cmd, None, Stdio::piped());
    (server, stderr.expect("stderr is piped"))
}

/// `tkms serve` on a machine with only the table-based SM4 backend (forced with
/// TKMS_SM4_BACKEND=soft): its key store refuses SM4 CMKs (InternalError to the client; the
/// server names TKMS_SM4_ALLOW_TABLE on stderr at startup); with the opt-in the server warns on
/// stderr before serving, and the same CMK works.
#[test]
fn serve_refuses_table_based_sm4_unless_opted_in_and_then_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let plain = write(tmp.path(), "plain", b"sm4 over http\n");
    let sealed = tmp.path().join("sealed.tkms");
    // An SM4 CMK in the store the server then opens (--material needs the embedded store).
    ok(tkms(&data).args(["key", "create", "gm", "--material", "sm4"]));
    // The client runs a constant-time backend and an AES file suite: only the server decides.
    let encrypt = |ep: &str| {
        run(tkms(&data)
            .args([
                "--endpoint",
                ep,
                "encrypt",
                "--key",
                "gm",
                "--suite",
                "aes256gcm",
            ])
            .arg(&plain)
            .arg("-o")
            .arg(&sealed))
    };

    let mut cmd = tkms(&data);
    cmd.env("TKMS_SM4_BACKEND", "soft");
    let (mut server, stderr) = serve_with_stderr(cmd);
    let out = encrypt(&server.endpoint);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("InternalError"));
    assert!(!sealed.exists(), "a refused encryption leaves no file");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut log).unwrap();
    assert!(
        log.contains("SM4 refused") && log.contains("TKMS_SM4_ALLOW_TABLE=1"),
        "{log}"
    );

    let mut cmd = tkms(&data);
    cmd.env("TKMS_SM4_BACKEND", "soft")
        .env("TKMS_SM4_ALLOW_TABLE", "1");
    let (server, stderr) = serve_with_stderr(cmd);
    let mut warning = String::new();
    BufReader::new(stderr).read_line(&mut warning).unwrap();
    assert!(
        warning.starts_with("warning: SM4-GCM runs on the table-based `soft` backend")
            && warning.contains("TKMS_SM4_ALLOW_TABLE=1"),
        "{warning:?}"
    );
    let out = encrypt(&server.endpoint);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ok(tkms(&data)
        .args(["--endpoint", &server.endpoint, "decrypt"])
        .arg(&sealed));
    assert_eq!(out.stdout, b"sm4 over http\n");
}

/// SIGINT or SIGTERM sent the moment `listening on` is printed stops the server cleanly (exit
/// 0): the handlers are in place before the line a client waits for.
#[test]
fn a_signal_right_after_the_listening_line_stops_the_server_cleanly() {
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(tkms(dir.path()), None);
        let sent = Command::new("kill")
            .args(["-s", signal, &server.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -s {signal}");
        let status = server.child.wait().expect("tkms serve exits");
        assert!(status.success(), "SIG{signal} gave {status:?}");
    }
}

/// The server's log (stderr): an internal error is logged with its RequestId, which is all the
/// client is told; with TKMS_LOG=debug every call adds one line with its action and result,
/// and never a parameter. An unknown level stops the start.
#[test]
fn serve_logs_internal_errors_and_with_debug_each_call() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let plain = write(tmp.path(), "plain", b"logged nowhere\n");
    // An SM4 CMK that a server on the table-based backend refuses with InternalError (above).
    ok(tkms(&data).args(["key", "create", "gm", "--material", "sm4"]));

    let out = run(tkms(&data)
        .env("TKMS_LOG", "loud")
        .args(["serve", "--listen", "127.0.0.1:0"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TKMS_LOG"));

    let mut cmd = tkms(&data);
    cmd.env("TKMS_SM4_BACKEND", "soft").env("TKMS_LOG", "debug");
    let (mut server, stderr) = serve_with_stderr(cmd);
    let ep = server.endpoint.clone();
    ok(tkms(&data).args(["--endpoint", &ep, "key", "list"]));
    let out = run(tkms(&data)
        .args([
            "--endpoint",
            &ep,
            "encrypt",
            "--key",
            "gm",
            "-c",
            "secret=context-value",
        ])
        .arg(&plain)
        .arg("-o")
        .arg(tmp.path().join("sealed")));
    assert_eq!(out.status.code(), Some(7));
    let client = String::from_utf8_lossy(&out.stderr).into_owned();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut log).unwrap();

    // The client retries an InternalError and reports the last attempt's RequestId.
    let internal = log
        .lines()
        .rfind(|l| l.contains("internal error"))
        .unwrap_or_else(|| panic!("no internal error in the log:\n{log}"));
    let request_id = internal
        .split("request_id=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no request_id in {internal:?}"));
    assert!(
        client.contains(request_id),
        "the client names the RequestId {request_id}: {client}\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("call")
            && l.contains("action=\"ListKeyDetail\"")
            && l.contains("result=\"ok\"")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(request_id) && l.contains("result=\"InternalError\"")),
        "{log}"
    );
    assert!(
        !log.contains("context-value") && !log.contains("bG9nZ2Vk"),
        "{log}"
    );
}

/// Rows of `action` in the audit trail of the server's data directory, once `expected` are
/// there (or 5 s passed) and 100 ms more: the server commits its rows up to 10 ms after
/// answering (docs/cam.md), so a row beyond `expected` is counted too.
fn audit_rows(data_dir: &Path, action: &str, expected: usize) -> usize {
    let count = || {
        let out = ok(tkms(data_dir).args(["audit", "--action", action, "--output", "jsonl"]));
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while count() < expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    count()
}

/// `tkms encrypt`/`decrypt` of several files share one data key through the cache: the
/// server's audit trail shows one GenerateDataKey for 6 files and one Decrypt to open them
/// all (docs/cli.md); a single-file call costs one of each per file, as before.
#[test]
fn many_files_in_one_invocation_cost_one_kms_call() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(tkms(&data), None);
    let ep = server.endpoint.as_str();
    ok(tkms(&data).args(["--endpoint", ep, "key", "create", "batch"]));
    let files: Vec<PathBuf> = (0..6)
        .map(|i| write(tmp.path(), &format!("f{i}"), &vec![i as u8; 100_000 * i]))
        .collect();
    ok(tkms(&data)
        .args(["--endpoint", ep, "encrypt", "--key", "batch", "-c", "app=t"])
        .args(&files));
    assert_eq!(audit_rows(&data, "GenerateDataKey", 1), 1);
    let out_dir = tmp.path().join("opened");
    std::fs::create_dir(&out_dir).unwrap();
    let sealed: Vec<PathBuf> = files.iter().map(|f| f.with_extension("tkms")).collect();
    ok(tkms(&data)
        .args(["--endpoint", ep, "decrypt", "-c", "app=t", "--out-dir"])
        .arg(&out_dir)
        .args(&sealed));
    assert_eq!(audit_rows(&data, "Decrypt", 1), 1);
    for (i, file) in files.iter().enumerate() {
        let opened = std::fs::read(out_dir.join(format!("f{i}"))).unwrap();
        assert_eq!(opened, std::fs::read(file).unwrap(), "f{i}");
        // Each file stands alone: it opens by itself too.
        let out = ok(tkms(&data)
            .args(["--endpoint", ep, "decrypt", "-c", "app=t"])
            .arg(&sealed[i]));
        assert_eq!(out.stdout, opened);
    }
    assert_eq!(
        audit_rows(&data, "Decrypt", 1 + files.len()),
        1 + files.len()
    );

    // Existing outputs are refused before any KMS call, unless --force.
    let out = run(tkms(&data)
        .args(["--endpoint", ep, "encrypt", "--key", "batch", "-c", "app=t"])
        .args(&files));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(audit_rows(&data, "GenerateDataKey", 1), 1);

    // A file that fails stops the run: the files before it are complete, it has no output.
    let mut tampered = std::fs::read(&sealed[3]).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(&sealed[3], tampered).unwrap();
    let again = tmp.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let out = run(tkms(&data)
        .args(["--endpoint", ep, "decrypt", "-c", "app=t", "--out-dir"])
        .arg(&again)
        .args(&sealed));
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("f3.tkms"));
    let written: Vec<String> = std::fs::read_dir(&again)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut written = written;
    written.sort();
    assert_eq!(written, ["f0", "f1", "f2"]);
}
