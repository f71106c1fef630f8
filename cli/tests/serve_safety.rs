//! `tkms serve` holds slow and idle clients to its timeouts, refuses connections past its cap
//! cleanly, raises its soft file limit, and answers oversized headers with a Tencent JSON error
//! (docs/serve.md, "Connections and timeouts"); and every file tkms stores is private, even in
//! a shared directory. The real binary, raw TCP clients, small limits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TKMS: &str = env!("CARGO_BIN_EXE_tkms");

/// A running `tkms serve` with the given extra flags, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data_dir: &Path, launcher: &[&str], flags: &[&str]) -> Self {
        let (program, before) = match launcher.split_first() {
            Some((program, rest)) => (*program, rest.iter().copied().chain([TKMS]).collect()),
            None => (TKMS, Vec::new()),
        };
        let mut child = Command::new(program)
            .args(before)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(flags)
            .env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tkms serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("got {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SHORT: [&str; 6] = [
    "--header-timeout",
    "0.5",
    "--body-timeout",
    "0.5",
    "--idle-timeout",
    "0.5",
];

/// Reads until the server closes the connection; returns what it sent and how long it took.
/// Fails if the server keeps the connection open for 10 s.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server kept the connection open: {e}"),
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        start.elapsed(),
    )
}

#[test]
fn slow_headers_slow_bodies_and_idle_connections_are_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &SHORT);

    // Headers that never end.
    let mut slow_header = server.connect();
    slow_header
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    // Nothing at all.
    let mut silent = server.connect();
    // A body that never arrives whole.
    let mut slow_body = server.connect();
    slow_body
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
        .expect("send");
    // One answered request, then idle on keep-alive.
    let mut idle = server.connect();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");

    for (name, stream) in [("slow header", &mut slow_header), ("silent", &mut silent)] {
        let (sent, took) = read_until_closed(stream);
        assert_eq!(sent, "", "{name}");
        assert!(took < Duration::from_secs(5), "{name}: {took:?}");
    }
    let (sent, _) = read_until_closed(&mut slow_body);
    assert!(sent.starts_with("HTTP/1.1 200 OK"), "{sent}");
    assert!(sent.contains("did not arrive within 0.5 s"), "{sent}");
    let (sent, _) = read_until_closed(&mut idle);
    assert!(sent.contains(r#"{"Status":"ok"}"#), "{sent}");
}

#[test]
fn connections_past_the_cap_are_refused_with_a_tencent_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &["--max-connections", "3"]);
    let held: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
    let mut refused = server.connect();
    let (sent, _) = read_until_closed(&mut refused);
    assert!(sent.starts_with("HTTP/1.1 200 OK\r\n"), "{sent}");
    assert!(
        sent.contains("content-type: application/json\r\n"),
        "{sent}"
    );
    assert!(sent.contains(r#""Code":"RequestLimitExceeded""#), "{sent}");
    // Once a held connection closes, a new client is served.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = server.connect();
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let (sent, _) = read_until_closed(&mut client);
        if sent.contains(r#"{"Status":"ok"}"#) {
            break;
        }
        assert!(Instant::now() < deadline, "never served again: {sent}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn oversized_headers_get_a_tencent_json_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);
    let mut stream = server.connect();
    let mut request = b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 1 << 20));
    request.extend_from_slice(b"\r\n\r\n");
    let mut writer = stream.try_clone().expect("clone");
    // The server may answer and close before reading it all.
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let (sent, _) = read_until_closed(&mut stream);
    let _ = sending.join();
    assert!(sent.starts_with("HTTP/1.1 200 OK\r\n"), "{sent}");
    assert!(
        sent.contains("content-type: application/json\r\n"),
        "{sent}"
    );
    assert!(
        sent.contains(r#""Code":"RequestSizeLimitExceeded""#),
        "{sent}"
    );
}

#[test]
fn the_soft_file_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["prlimit", "--nofile=256:2048"], &[]);
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).expect("limits");
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("the open files line");
    let numbers: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["2048", "2048"], "{files}");
}

/// Every regular file under `dir` with its mode bits, sorted by name.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_type().expect("type").is_file())
        .map(|e| {
            let mode = e.metadata().expect("metadata").permissions().mode() & 0o777;
            (e.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    out.sort();
    out
}

fn assert_private(dir: &Path) {
    let files = modes(dir);
    assert!(!files.is_empty(), "{}", dir.display());
    assert!(
        files.iter().all(|(_, mode)| *mode == 0o600),
        "{}: {files:?}",
        dir.display()
    );
}

#[test]
fn store_audit_and_tde_files_are_private_in_a_shared_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // The store and its audit trail, with SQLite's -wal and -shm, while the server runs.
    let server = Server::start(&shared, &[], &[]);
    let names: Vec<String> = modes(&shared).into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| n.ends_with("-wal")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("-shm")), "{names:?}");
    assert_private(&shared);
    drop(server);

    // Files left world-readable by an older version are made private at the next start.
    for (name, _) in modes(&shared) {
        if name.ends_with(".db") || name.ends_with("-wal") || name.ends_with("-shm") {
            let path = shared.join(name);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
    }
    let server = Server::start(&shared, &[], &[]);
    assert_private(&shared);
    drop(server);

    // A TDE instance (and the embedded store it uses) in a shared directory.
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    std::fs::write(work.join("t.bin"), vec![7u8; 10_000]).expect("input");
    for args in [
        &[
            "tde",
            "init",
            "db",
            "--key",
            "tkms-default",
            "--page-size",
            "4096",
        ][..],
        &["tde", "load", "db", "t", "t.bin"],
    ] {
        let out = Command::new(TKMS)
            .args(args)
            .current_dir(&work)
            .env_remove("TKMS_ENDPOINT")
            .env("TKMS_DATA_DIR", &shared)
            .output()
            .expect("tkms runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_private(&work.join("db"));
    assert_private(&shared);
}
