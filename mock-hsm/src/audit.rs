//! The audit trail (docs/cam.md, "Audit trail"): one row per call, allowed or denied, in the
//! key store's database (table `audit_log`, schema migration 3). Rows hold who, from where,
//! what, on which key and the outcome — never a parameter value, plaintext, key or secret.
//!
//! Calls hand their row to a writer thread and do not wait: the thread commits whatever has
//! queued within 10 ms in one durable transaction, so under load one fsync covers many rows.
//! [`AuditLog::flush`] waits for everything handed over so far.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

/// Schema migration 3 of the key store.
pub(crate) const AUDIT_SCHEMA: &str = "CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        account_uin INTEGER NOT NULL,
        identity TEXT NOT NULL,
        source_ip TEXT,
        action TEXT NOT NULL,
        key_id TEXT,
        region TEXT NOT NULL,
        result TEXT NOT NULL,
        request_id TEXT NOT NULL
     );
     CREATE INDEX audit_by_time ON audit_log (time);";

/// The result of a successful call.
pub const RESULT_OK: &str = "ok";
/// Seconds in a day.
const DAY: u64 = 86_400;
/// How long a row may wait for others to share its commit. A crash loses at most this much of
/// the trail; [`AuditLog::flush`] (clean shutdown, queries) commits at once.
const COMMIT_INTERVAL: Duration = Duration::from_millis(10);

/// Why the audit trail could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("audit trail: {0}")]
pub struct AuditError(String);

impl From<rusqlite::Error> for AuditError {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

/// One call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Unix seconds (the service clock).
    pub time: u64,
    /// The caller's account.
    pub account_uin: u64,
    /// The caller within the account (`root`, a user name, `role/NAME/SESSION`).
    pub identity: String,
    /// Where the call came from.
    pub source_ip: Option<String>,
    /// The action (`Encrypt`, `sts:AssumeRole`...).
    pub action: String,
    /// The key the call named, if any.
    pub key_id: Option<String>,
    /// The region addressed.
    pub region: String,
    /// `ok`, or the Tencent error code.
    pub result: String,
    /// The RequestId returned to the caller.
    pub request_id: String,
}

/// Which outcomes a query wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultFilter {
    /// Successful calls.
    Ok,
    /// Failed calls, any code.
    Error,
    /// Failed calls with this code.
    Code(String),
}

impl std::str::FromStr for ResultFilter {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ok" => Self::Ok,
            "error" => Self::Error,
            code => Self::Code(code.to_owned()),
        })
    }
}

/// A query: every field narrows the result; rows come oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// From this time (inclusive, Unix seconds).
    pub from: Option<u64>,
    /// Up to this time (inclusive).
    pub to: Option<u64>,
    /// This action.
    pub action: Option<String>,
    /// This key.
    pub key_id: Option<String>,
    /// This identity.
    pub identity: Option<String>,
    /// These outcomes.
    pub result: Option<ResultFilter>,
}

fn open_connection(path: Option<&Path>) -> Result<Connection, AuditError> {
    let conn = match path {
        Some(path) => {
            crate::store::private_database(path)
                .map_err(|e| AuditError(format!("{}: {e}", path.display())))?;
            Connection::open(path)?
        }
        None => {
            let conn = Connection::open_in_memory()?;
            conn.execute_batch(AUDIT_SCHEMA)?;
            conn
        }
    };
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA synchronous=FULL;")?;
    Ok(conn)
}

/// Rows per INSERT statement when many are queued: one statement per row spent more time
/// starting statements than inserting.
const ROWS_PER_INSERT: usize = 64;

/// The statement text for a full chunk, and for one row: built once, then found in the
/// connection's statement cache.
static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));
static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_log (time, account_uin, identity, source_ip, action, key_id, region, result, request_id) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?)");
    }
    sql
}

fn insert_all(conn: &mut Connection, records: &[AuditRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let full = records.len() / ROWS_PER_INSERT * ROWS_PER_INSERT;
    // Full chunks share one statement, the rest another: two cached statements in all.
    let chunks = records[..full]
        .chunks(ROWS_PER_INSERT)
        .chain(records[full..].chunks(1));
    for chunk in chunks {
        let sql = if chunk.len() == 1 {
            &INSERT_ONE
        } else {
            &INSERT_MANY
        };
        let mut stmt = tx.prepare_cached(sql)?;
        for (i, r) in chunk.iter().enumerate() {
            let at = i * 9;
            stmt.raw_bind_parameter(at + 1, i64::try_from(r.time).unwrap_or(i64::MAX))?;
            stmt.raw_bind_parameter(at + 2, i64::try_from(r.account_uin).unwrap_or(i64::MAX))?;
            stmt.raw_bind_parameter(at + 3, &r.identity)?;
            stmt.raw_bind_parameter(at + 4, &r.source_ip)?;
            stmt.raw_bind_parameter(at + 5, &r.action)?;
            stmt.raw_bind_parameter(at + 6, &r.key_id)?;
            stmt.raw_bind_parameter(at + 7, &r.region)?;
            stmt.raw_bind_parameter(at + 8, &r.result)?;
            stmt.raw_bind_parameter(at + 9, &r.request_id)?;
        }
        stmt.raw_execute()?;
    }
    tx.commit()
}

enum Message {
    Record(Box<AuditRecord>),
    Flush(mpsc::SyncSender<()>),
}

/// The audit trail of a running service.
pub struct AuditLog {
    conn: Arc<Mutex<Connection>>,
    sender: mpsc::Sender<Message>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// Logs a failure of the writer (the server logs through tracing; without it, stderr).
fn report(message: &str) {
    #[cfg(feature = "server")]
    tracing::error!("{message}");
    #[cfg(not(feature = "server"))]
    eprintln!("tkms audit: {message}");
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AuditLog {
    /// Opens the trail in the key store database at `path` (already migrated by
    /// [`crate::Hsm::open`]), or in memory.
    pub fn open(path: Option<&Path>) -> Result<Self, AuditError> {
        let conn = Arc::new(Mutex::new(open_connection(path)?));
        let (sender, receiver) = mpsc::channel::<Message>();
        let writer = Arc::clone(&conn);
        std::thread::Builder::new()
            .name("tkms-audit".into())
            .spawn(move || {
                let mut batch = Vec::new();
                let mut waiting = Vec::new();
                while let Ok(first) = receiver.recv() {
                    if matches!(first, Message::Record(_)) {
                        // Let the rows of the next moment queue up: one commit (and fsync) for
                        // all of them, and no wake-up of this thread per call.
                        std::thread::sleep(COMMIT_INTERVAL);
                    }
                    let mut next = Some(first);
                    while let Some(message) = next {
                        match message {
                            Message::Record(r) => batch.push(*r),
                            Message::Flush(done) => waiting.push(done),
                        }
                        next = receiver.try_recv().ok();
                    }
                    if !batch.is_empty() {
                        if let Err(e) = insert_all(&mut lock(&writer), &batch) {
                            report(&format!("{} audit rows not written: {e}", batch.len()));
                        }
                        batch.clear();
                    }
                    for done in waiting.drain(..) {
                        let _ = done.send(());
                    }
                }
            })
            .map_err(|e| AuditError(format!("cannot start the audit writer: {e}")))?;
        Ok(Self { conn, sender })
    }

    fn send(&self, message: Message) -> bool {
        self.sender.send(message).is_ok()
    }

    /// Queues a row (written within one commit's time).
    pub fn record(&self, record: AuditRecord) {
        if !self.send(Message::Record(Box::new(record))) {
            report("audit writer stopped; row lost");
        }
    }

    /// Waits until every row queued so far is committed.
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.send(Message::Flush(done)) {
            let _ = wait.recv();
        }
    }

    /// The rows matching `query` (after a [`flush`](Self::flush)).
    pub fn query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        self.flush();
        run_query(&lock(&self.conn), query)
    }

    /// Deletes rows older than `retention_days` before `now`; returns how many.
    pub fn enforce_retention(&self, now: u64, retention_days: u32) -> Result<usize, AuditError> {
        self.flush();
        let cutoff = now.saturating_sub(u64::from(retention_days) * DAY);
        let deleted = lock(&self.conn).execute(
            "DELETE FROM audit_log WHERE time < ?1",
            [i64::try_from(cutoff).unwrap_or(i64::MAX)],
        )?;
        Ok(deleted)
    }
}

/// Reads the trail of a key store database directly (read-only; safe while `tkms serve`
/// writes it: SQLite WAL readers see the last committed state).
pub fn query_database(path: &Path, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
    if !path.exists() {
        return Err(AuditError(format!("no key store at {}", path.display())));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(Vec::new());
    }
    run_query(&conn, query)
}

fn run_query(conn: &Connection, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
    let mut sql = String::from(
        "SELECT time, account_uin, identity, source_ip, action, key_id, region, result, request_id \
         FROM audit_log WHERE 1 = 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut push = |clause: &str, value: rusqlite::types::Value| {
        args.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    let secs = |t: u64| rusqlite::types::Value::Integer(i64::try_from(t).unwrap_or(i64::MAX));
    let text = |s: &str| rusqlite::types::Value::Text(s.to_owned());
    if let Some(from) = query.from {
        push("time >=", secs(from));
    }
    if let Some(to) = query.to {
        push("time <=", secs(to));
    }
    if let Some(action) = &query.action {
        push("action =", text(action));
    }
    if let Some(key) = &query.key_id {
        push("key_id =", text(key));
    }
    if let Some(identity) = &query.identity {
        push("identity =", text(identity));
    }
    match &query.result {
        None => {}
        Some(ResultFilter::Ok) => push("result =", text(RESULT_OK)),
        Some(ResultFilter::Error) => push("result <>", text(RESULT_OK)),
        Some(ResultFilter::Code(code)) => push("result =", text(code)),
    }
    sql.push_str(" ORDER BY time, id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok(AuditRecord {
            time: r.get::<_, i64>(0)?.max(0) as u64,
            account_uin: r.get::<_, i64>(1)?.max(0) as u64,
            identity: r.get(2)?,
            source_ip: r.get(3)?,
            action: r.get(4)?,
            key_id: r.get(5)?,
            region: r.get(6)?,
            result: r.get(7)?,
            request_id: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(time: u64, action: &str, result: &str) -> AuditRecord {
        AuditRecord {
            time,
            account_uin: 1,
            identity: "alice".into(),
            source_ip: Some("127.0.0.1".into()),
            action: action.into(),
            key_id: Some("k".into()),
            region: "ap-guangzhou".into(),
            result: result.into(),
            request_id: "r".into(),
        }
    }

    #[test]
    fn query_filters_and_retention() {
        let log = AuditLog::open(None).unwrap();
        log.record(row(100, "Encrypt", "ok"));
        log.record(row(200, "Decrypt", "UnauthorizedOperation"));
        log.record(row(100 + 91 * DAY, "Encrypt", "ok"));
        let all = log.query(&AuditQuery::default()).unwrap();
        assert_eq!(all.len(), 3);
        let errors = log
            .query(&AuditQuery {
                result: Some(ResultFilter::Error),
                ..AuditQuery::default()
            })
            .unwrap();
        assert_eq!(errors, vec![row(200, "Decrypt", "UnauthorizedOperation")]);
        let window = log
            .query(&AuditQuery {
                from: Some(150),
                to: Some(250),
                ..AuditQuery::default()
            })
            .unwrap();
        assert_eq!(window.len(), 1);
        assert_eq!(log.enforce_retention(100 + 91 * DAY, 90).unwrap(), 2);
        assert_eq!(log.query(&AuditQuery::default()).unwrap().len(), 1);
    }
}
