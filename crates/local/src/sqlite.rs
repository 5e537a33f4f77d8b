//! State and queue in one SQLite file (WAL), shared by `updraft dev` and
//! every other `updraft` command on the same state directory. Records are
//! JSON; the columns beside them are what compare-and-set and queries need.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use updraft_core::ids::DagId;
use updraft_core::notify::Notice;
use updraft_core::state::{
    ArtifactRecord, Attempt, AuditEntry, Run, RunState, TaskInstance, TaskKey, TaskTransition,
};
use updraft_engine::memory::matches;
use updraft_engine::ports::{
    DagChange, DagMeta, Delivery, HandleRef, PendingStop, PoolSize, PortError, PortResult,
    RunQuery, SlotClaim, StateStore, StoredVersion, TaskMessage, TaskQueue,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dags (dag TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spec_versions (
    dag TEXT NOT NULL, version TEXT NOT NULL, source TEXT NOT NULL, first_seen TEXT,
    PRIMARY KEY (dag, version));
CREATE TABLE IF NOT EXISTS runs (
    dag TEXT NOT NULL, run_id TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (dag, run_id));
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS task_instances (
    dag TEXT NOT NULL, run_id TEXT NOT NULL, task_id TEXT NOT NULL, map_index INTEGER NOT NULL,
    state TEXT NOT NULL, try_number INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (dag, run_id, task_id, map_index));
CREATE TABLE IF NOT EXISTS attempts (
    dag TEXT NOT NULL, run_id TEXT NOT NULL, task_id TEXT NOT NULL, map_index INTEGER NOT NULL,
    try_number INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (dag, run_id, task_id, map_index, try_number));
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, visible_at INTEGER NOT NULL,
    receipt TEXT, receive_count INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS queue_by_visibility ON queue (visible_at);
CREATE TABLE IF NOT EXISTS artifacts (
    uri TEXT NOT NULL, used TEXT NOT NULL, dag TEXT NOT NULL, run_id TEXT NOT NULL,
    task_id TEXT NOT NULL, map_index INTEGER NOT NULL, try_number INTEGER NOT NULL,
    at TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (uri, used, dag, run_id, task_id, map_index, try_number));
CREATE INDEX IF NOT EXISTS artifacts_by_run ON artifacts (dag, run_id);
CREATE TABLE IF NOT EXISTS handles (handle TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stops (handle TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pool_slots (
    pool TEXT NOT NULL, holder TEXT NOT NULL, slots INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (pool, holder));
CREATE TABLE IF NOT EXISTS pool_waiters (
    pool TEXT NOT NULL, holder TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (pool, holder));
CREATE TABLE IF NOT EXISTS pool_sizes (
    pool TEXT PRIMARY KEY, declared INTEGER, slots_set INTEGER);
CREATE TABLE IF NOT EXISTS heartbeat (name TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dag TEXT NOT NULL, run_id TEXT NOT NULL,
    at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_run ON audit (dag, run_id, at);
";

/// Writes `next`, one revision up, if the stored run is still in state
/// `expect` at revision `next.revision`. Runs written before revisions
/// were kept have none: revision 0.
fn write_run(conn: &Connection, expect: RunState, next: &Run) -> PortResult<bool> {
    let mut stored = next.clone();
    stored.revision += 1;
    let changed = conn
        .execute(
            "UPDATE runs SET state = ?1, body = ?2 WHERE dag = ?3 AND run_id = ?4 AND state = ?5
             AND IFNULL(json_extract(body, '$.revision'), 0) = ?6",
            params![
                next.state.as_str(),
                to_json(&stored)?,
                next.dag.as_str(),
                next.run_id,
                expect.as_str(),
                next.revision as i64
            ],
        )
        .map_err(db("updating a run"))?;
    Ok(changed == 1)
}

/// Keeps the events of a change in the outbox, in the change's transaction.
fn keep_notices(conn: &Connection, notices: &[Notice]) -> PortResult<()> {
    for notice in notices {
        let body = to_json(notice)?;
        conn.prepare_cached("INSERT OR IGNORE INTO outbox (id, body) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![notice.id, body]))
            .map_err(db("keeping an event"))?;
    }
    Ok(())
}

/// One connection to the state file.
#[derive(Clone)]
pub struct Sqlite(Arc<Mutex<Connection>>);

impl Sqlite {
    /// Opens (and creates) the state database at `path`.
    pub fn open(path: &Path) -> PortResult<Sqlite> {
        let fail = |e: rusqlite::Error| {
            PortError::new(&format!("opening state database {}", path.display()), e)
        };
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        // State files from before versions kept when they were first seen.
        let has_first_seen: bool = conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('spec_versions') WHERE name = 'first_seen'",
                [],
                |r| r.get(0),
            )
            .map_err(fail)?;
        if !has_first_seen {
            conn.execute("ALTER TABLE spec_versions ADD COLUMN first_seen TEXT", [])
                .map_err(fail)?;
        }
        Ok(Sqlite(Arc::new(Mutex::new(conn))))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn db(doing: &str) -> impl Fn(rusqlite::Error) -> PortError + '_ {
    move |e| PortError::new(doing, e)
}

fn to_json<T: Serialize>(value: &T) -> PortResult<String> {
    serde_json::to_string(value).map_err(|e| PortError::new("encoding a record", e))
}

fn from_json<T: DeserializeOwned>(text: &str) -> PortResult<T> {
    serde_json::from_str(text).map_err(|e| PortError::new("decoding a stored record", e))
}

fn map_index(key: &TaskKey) -> i64 {
    key.map_index.map_or(-1, i64::from)
}

fn timestamp(run: &Run) -> String {
    run.created_at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Inserts task instances that do not exist yet; returns how many it did.
fn insert_instances(
    tx: &rusqlite::Transaction<'_>,
    dag: &str,
    run_id: &str,
    instances: &[TaskInstance],
) -> PortResult<usize> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO task_instances (dag, run_id, task_id, map_index, state, try_number, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db("creating task instances"))?;
    let mut created = 0;
    for instance in instances {
        created += stmt
            .execute(params![
                dag,
                run_id,
                instance.key.task_id.as_str(),
                map_index(&instance.key),
                instance.state.as_str(),
                instance.try_number,
                to_json(instance)?
            ])
            .map_err(db("creating task instances"))?;
    }
    Ok(created)
}

/// The state store over [`Sqlite`].
pub struct SqliteStore(pub Sqlite);

impl SqliteStore {
    /// The JSON bodies a query selects, decoded.
    fn bodies<T: DeserializeOwned>(
        &self,
        doing: &str,
        sql: &str,
        args: &[&str],
    ) -> PortResult<Vec<T>> {
        let conn = self.0.conn();
        let mut stmt = conn.prepare_cached(sql).map_err(db(doing))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))
            .map_err(db(doing))?;
        rows.map(|row| from_json(&row.map_err(db(doing))?))
            .collect()
    }

    /// Writes an attempt with `verb` (`INSERT OR REPLACE`, `INSERT OR
    /// IGNORE`); returns how many rows changed.
    fn write_attempt(
        &self,
        verb: &str,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
    ) -> PortResult<usize> {
        let body = to_json(attempt)?;
        self.0
            .conn()
            .prepare_cached(&format!(
                "{verb} INTO attempts (dag, run_id, task_id, map_index, try_number, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    dag,
                    run_id,
                    attempt.key.task_id.as_str(),
                    map_index(&attempt.key),
                    attempt.try_number,
                    body
                ])
            })
            .map_err(db("writing an attempt"))
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn dag(&self, dag: &str) -> PortResult<Option<DagMeta>> {
        let body: Option<String> = self
            .0
            .conn()
            .query_row("SELECT body FROM dags WHERE dag = ?1", [dag], |r| r.get(0))
            .optional()
            .map_err(db("reading a DAG"))?;
        body.as_deref().map(from_json).transpose()
    }

    async fn dags(&self) -> PortResult<Vec<DagMeta>> {
        let conn = self.0.conn();
        let mut stmt = conn
            .prepare("SELECT body FROM dags ORDER BY dag")
            .map_err(db("listing DAGs"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db("listing DAGs"))?;
        rows.map(|row| from_json(&row.map_err(db("listing DAGs"))?))
            .collect()
    }

    async fn update_dag(&self, dag: &DagId, change: &DagChange) -> PortResult<bool> {
        let mut conn = self.0.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("changing a DAG"))?;
        let body: Option<String> = tx
            .query_row(
                "SELECT body FROM dags WHERE dag = ?1",
                [dag.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("changing a DAG"))?;
        let mut meta = match body {
            Some(body) => from_json(&body)?,
            None => DagMeta::new(dag.clone()),
        };
        if !change.apply(&mut meta) {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR REPLACE INTO dags (dag, body) VALUES (?1, ?2)",
            params![dag.as_str(), to_json(&meta)?],
        )
        .map_err(db("changing a DAG"))?;
        tx.commit().map_err(db("changing a DAG"))?;
        Ok(true)
    }

    async fn put_spec_version(
        &self,
        dag: &str,
        version: &str,
        source: &str,
        seen_at: DateTime<Utc>,
    ) -> PortResult<()> {
        let seen_at = seen_at.to_rfc3339_opts(SecondsFormat::Micros, true);
        self.0
            .conn()
            .execute(
                "INSERT OR IGNORE INTO spec_versions (dag, version, source, first_seen) VALUES (?1, ?2, ?3, ?4)",
                params![dag, version, source, seen_at],
            )
            .map_err(db("storing a spec version"))?;
        Ok(())
    }

    async fn spec_versions(&self, dag: &str) -> PortResult<Vec<StoredVersion>> {
        let conn = self.0.conn();
        let mut stmt = conn
            .prepare("SELECT version, first_seen FROM spec_versions WHERE dag = ?1")
            .map_err(db("listing spec versions"))?;
        let rows = stmt
            .query_map([dag], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(db("listing spec versions"))?;
        rows.map(|row| {
            let (version, seen) = row.map_err(db("listing spec versions"))?;
            Ok(StoredVersion {
                version,
                first_seen: seen
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&Utc)),
            })
        })
        .collect()
    }

    async fn spec_version(&self, dag: &str, version: &str) -> PortResult<Option<String>> {
        self.0
            .conn()
            .query_row(
                "SELECT source FROM spec_versions WHERE dag = ?1 AND version = ?2",
                [dag, version],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("reading a spec version"))
    }

    async fn create_run(
        &self,
        run: &Run,
        instances: &[TaskInstance],
        notices: &[Notice],
    ) -> PortResult<bool> {
        let mut conn = self.0.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("creating a run"))?;
        // One run per DAG and logical date, whichever made it.
        let logical_date = to_json(&run.logical_date)?;
        let taken: bool = tx
            .query_row(
                "SELECT COUNT(*) > 0 FROM runs WHERE dag = ?1 AND json_extract(body, '$.logical_date') = json_extract(?2, '$')",
                params![run.dag.as_str(), logical_date],
                |r| r.get(0),
            )
            .map_err(db("creating a run"))?;
        if taken {
            return Ok(false);
        }
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO runs (dag, run_id, state, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run.dag.as_str(), run.run_id, run.state.as_str(), timestamp(run), to_json(run)?],
            )
            .map_err(db("creating a run"))?;
        if inserted == 0 {
            return Ok(false);
        }
        insert_instances(&tx, run.dag.as_str(), &run.run_id, instances)?;
        keep_notices(&tx, notices)?;
        tx.commit().map_err(db("creating a run"))?;
        Ok(true)
    }

    async fn create_instances(
        &self,
        dag: &str,
        run_id: &str,
        instances: &[TaskInstance],
    ) -> PortResult<usize> {
        let mut conn = self.0.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("creating task instances"))?;
        let created = insert_instances(&tx, dag, run_id, instances)?;
        tx.commit().map_err(db("creating task instances"))?;
        Ok(created)
    }

    async fn run(&self, dag: &str, run_id: &str) -> PortResult<Option<Run>> {
        let body: Option<String> = self
            .0
            .conn()
            .query_row(
                "SELECT body FROM runs WHERE dag = ?1 AND run_id = ?2",
                [dag, run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("reading a run"))?;
        body.as_deref().map(from_json).transpose()
    }

    async fn runs(&self, query: &RunQuery) -> PortResult<Vec<Run>> {
        let conn = self.0.conn();
        let mut stmt = conn
            .prepare(
                "SELECT body FROM runs WHERE (?1 IS NULL OR dag = ?1) AND (?2 IS NULL OR created_at >= ?2)
                 ORDER BY created_at DESC, run_id DESC",
            )
            .map_err(db("listing runs"))?;
        let since = query
            .since
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
        let rows = stmt
            .query_map(params![query.dag, since], |r| r.get::<_, String>(0))
            .map_err(db("listing runs"))?;
        let mut out = Vec::new();
        for row in rows {
            let run: Run = from_json(&row.map_err(db("listing runs"))?)?;
            if matches(query, &run) {
                out.push(run);
                if query.limit.is_some_and(|limit| out.len() >= limit) {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn active_runs(&self) -> PortResult<Vec<Run>> {
        let conn = self.0.conn();
        let mut stmt = conn
            .prepare(
                "SELECT body FROM runs WHERE state IN ('queued', 'running') ORDER BY created_at",
            )
            .map_err(db("listing active runs"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db("listing active runs"))?;
        rows.map(|row| from_json(&row.map_err(db("listing active runs"))?))
            .collect()
    }

    async fn update_run(
        &self,
        expect: RunState,
        next: &Run,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let mut conn = self.0.conn();
        let tx = conn.transaction().map_err(db("updating a run"))?;
        let written = write_run(&tx, expect, next)?;
        if written {
            keep_notices(&tx, notices)?;
        }
        tx.commit().map_err(db("updating a run"))?;
        Ok(written)
    }

    async fn start_run(&self, next: &Run, limit: u32, notices: &[Notice]) -> PortResult<bool> {
        let mut conn = self.0.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting a run"))?;
        let running: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM runs WHERE dag = ?1 AND state = 'running'",
                [next.dag.as_str()],
                |r| r.get(0),
            )
            .map_err(db("starting a run"))?;
        if running >= i64::from(limit) {
            return Ok(false);
        }
        let written = write_run(&tx, RunState::Queued, next)?;
        if written {
            keep_notices(&tx, notices)?;
        }
        tx.commit().map_err(db("starting a run"))?;
        Ok(written)
    }

    async fn instances(&self, dag: &str, run_id: &str) -> PortResult<Vec<TaskInstance>> {
        let conn = self.0.conn();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM task_instances WHERE dag = ?1 AND run_id = ?2")
            .map_err(db("reading task instances"))?;
        let rows = stmt
            .query_map([dag, run_id], |r| r.get::<_, String>(0))
            .map_err(db("reading task instances"))?;
        rows.map(|row| from_json(&row.map_err(db("reading task instances"))?))
            .collect()
    }

    async fn instance(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
    ) -> PortResult<Option<TaskInstance>> {
        let body: Option<String> = self
            .0
            .conn()
            .prepare_cached("SELECT body FROM task_instances WHERE dag = ?1 AND run_id = ?2 AND task_id = ?3 AND map_index = ?4")
            .and_then(|mut s| s.query_row(params![dag, run_id, key.task_id.as_str(), map_index(key)], |r| r.get(0)).optional())
            .map_err(db("reading a task instance"))?;
        body.as_deref().map(from_json).transpose()
    }

    async fn update_instance(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let next = &change.next;
        let body = to_json(next)?;
        let mut conn = self.0.conn();
        let tx = conn.transaction().map_err(db("updating a task instance"))?;
        let changed = tx
            .prepare_cached(
                "UPDATE task_instances SET state = ?1, try_number = ?2, body = ?3
                 WHERE dag = ?4 AND run_id = ?5 AND task_id = ?6 AND map_index = ?7 AND state = ?8 AND try_number = ?9",
            )
            .and_then(|mut s| {
                s.execute(params![
                    next.state.as_str(),
                    next.try_number,
                    body,
                    dag,
                    run_id,
                    next.key.task_id.as_str(),
                    map_index(&next.key),
                    change.expect_state.as_str(),
                    change.expect_try
                ])
            })
            .map_err(db("updating a task instance"))?;
        if changed == 1 {
            keep_notices(&tx, notices)?;
        }
        tx.commit().map_err(db("updating a task instance"))?;
        Ok(changed == 1)
    }

    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()> {
        self.write_attempt("INSERT OR REPLACE", dag, run_id, attempt)?;
        Ok(())
    }

    async fn put_new_attempt(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
    ) -> PortResult<bool> {
        Ok(self.write_attempt("INSERT OR IGNORE", dag, run_id, attempt)? == 1)
    }

    async fn attempt(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
    ) -> PortResult<Option<Attempt>> {
        let body: Option<String> = self
            .0
            .conn()
            .prepare_cached(
                "SELECT body FROM attempts WHERE dag = ?1 AND run_id = ?2 AND task_id = ?3 AND map_index = ?4 AND try_number = ?5",
            )
            .and_then(|mut s| {
                s.query_row(params![dag, run_id, key.task_id.as_str(), map_index(key), try_number], |r| r.get(0))
                    .optional()
            })
            .map_err(db("reading an attempt"))?;
        body.as_deref().map(from_json).transpose()
    }

    async fn attempts(&self, dag: &str, run_id: &str) -> PortResult<Vec<Attempt>> {
        let conn = self.0.conn();
        let mut stmt = conn
            .prepare("SELECT body FROM attempts WHERE dag = ?1 AND run_id = ?2 ORDER BY task_id, map_index, try_number")
            .map_err(db("reading attempts"))?;
        let rows = stmt
            .query_map([dag, run_id], |r| r.get::<_, String>(0))
            .map_err(db("reading attempts"))?;
        rows.map(|row| from_json(&row.map_err(db("reading attempts"))?))
            .collect()
    }

    async fn put_audit(&self, dag: &str, run_id: &str, entry: &AuditEntry) -> PortResult<()> {
        let at = entry.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        self.0
            .conn()
            .execute(
                "INSERT INTO audit (dag, run_id, at, body) VALUES (?1, ?2, ?3, ?4)",
                params![dag, run_id, at, to_json(entry)?],
            )
            .map_err(db("keeping an audit entry"))?;
        Ok(())
    }

    async fn audit(&self, dag: &str, run_id: &str) -> PortResult<Vec<AuditEntry>> {
        let conn = self.0.conn();
        let mut stmt = conn
            .prepare("SELECT body FROM audit WHERE dag = ?1 AND run_id = ?2 ORDER BY at, seq")
            .map_err(db("reading audit entries"))?;
        let rows = stmt
            .query_map([dag, run_id], |r| r.get::<_, String>(0))
            .map_err(db("reading audit entries"))?;
        rows.map(|row| from_json(&row.map_err(db("reading audit entries"))?))
            .collect()
    }

    async fn put_handle(&self, handle: &str, try_ref: &HandleRef) -> PortResult<()> {
        let body = to_json(try_ref)?;
        self.0
            .conn()
            .execute(
                "INSERT OR REPLACE INTO handles (handle, body) VALUES (?1, ?2)",
                params![handle, body],
            )
            .map_err(db("recording a launch handle"))?;
        Ok(())
    }

    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>> {
        Ok(self
            .bodies(
                "reading a launch handle",
                "SELECT body FROM handles WHERE handle = ?1",
                &[handle],
            )?
            .pop())
    }

    async fn put_stop(&self, stop: &PendingStop) -> PortResult<()> {
        let body = to_json(stop)?;
        self.0
            .conn()
            .execute(
                "INSERT OR IGNORE INTO stops (handle, body) VALUES (?1, ?2)",
                params![stop.handle, body],
            )
            .map_err(db("recording a stop"))?;
        Ok(())
    }

    async fn take_slots(&self, claim: &SlotClaim, size: u32) -> PortResult<bool> {
        let mut conn = self.0.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("taking pool slots"))?;
        let (held, used): (bool, i64) = tx
            .query_row(
                "SELECT COALESCE(SUM(holder = ?2), 0) > 0, COALESCE(SUM(slots), 0) FROM pool_slots WHERE pool = ?1",
                params![claim.pool, claim.holder],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db("taking pool slots"))?;
        if held {
            return Ok(true);
        }
        if used + i64::from(claim.slots) > i64::from(size) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO pool_slots (pool, holder, slots, body) VALUES (?1, ?2, ?3, ?4)",
            params![claim.pool, claim.holder, claim.slots, to_json(claim)?],
        )
        .map_err(db("taking pool slots"))?;
        tx.commit().map_err(db("taking pool slots"))?;
        Ok(true)
    }

    async fn give_back_slots(&self, pool: &str, holder: &str) -> PortResult<()> {
        self.0
            .conn()
            .execute(
                "DELETE FROM pool_slots WHERE pool = ?1 AND holder = ?2",
                [pool, holder],
            )
            .map_err(db("giving pool slots back"))?;
        Ok(())
    }

    async fn slot_holders(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        self.bodies(
            "reading pool slots",
            "SELECT body FROM pool_slots WHERE pool = ?1 ORDER BY holder",
            &[pool],
        )
    }

    async fn wait_for_slots(&self, waiter: &SlotClaim) -> PortResult<()> {
        self.0
            .conn()
            .execute(
                "INSERT OR IGNORE INTO pool_waiters (pool, holder, body) VALUES (?1, ?2, ?3)",
                params![waiter.pool, waiter.holder, to_json(waiter)?],
            )
            .map_err(db("keeping a try waiting for slots"))?;
        Ok(())
    }

    async fn slot_waiters(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        self.bodies(
            "reading the tries waiting for slots",
            "SELECT body FROM pool_waiters WHERE pool = ?1 ORDER BY holder",
            &[pool],
        )
    }

    async fn stop_waiting(&self, pool: &str, holder: &str) -> PortResult<()> {
        self.0
            .conn()
            .execute(
                "DELETE FROM pool_waiters WHERE pool = ?1 AND holder = ?2",
                [pool, holder],
            )
            .map_err(db("forgetting a waiting try"))?;
        Ok(())
    }

    async fn declare_pools(&self, declared: &BTreeMap<String, u32>) -> PortResult<()> {
        let mut conn = self.0.conn();
        let tx = conn.transaction().map_err(db("declaring pools"))?;
        tx.execute("UPDATE pool_sizes SET declared = NULL", [])
            .map_err(db("declaring pools"))?;
        for (pool, slots) in declared {
            tx.execute(
                "INSERT INTO pool_sizes (pool, declared) VALUES (?1, ?2)
                 ON CONFLICT (pool) DO UPDATE SET declared = excluded.declared",
                params![pool, slots],
            )
            .map_err(db("declaring pools"))?;
        }
        tx.commit().map_err(db("declaring pools"))?;
        Ok(())
    }

    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> PortResult<()> {
        self.0
            .conn()
            .execute(
                "INSERT INTO pool_sizes (pool, slots_set) VALUES (?1, ?2)
                 ON CONFLICT (pool) DO UPDATE SET slots_set = excluded.slots_set",
                params![pool, slots],
            )
            .map_err(db("setting a pool's slots"))?;
        Ok(())
    }

    async fn pool_sizes(&self) -> PortResult<Vec<PoolSize>> {
        let conn = self.0.conn();
        let mut statement = conn
            .prepare_cached(
                "SELECT pool, declared, slots_set FROM pool_sizes
                 WHERE declared IS NOT NULL OR slots_set IS NOT NULL ORDER BY pool",
            )
            .map_err(db("reading pools"))?;
        let sizes = statement
            .query_map([], |r| {
                Ok(PoolSize {
                    pool: r.get(0)?,
                    declared: r.get(1)?,
                    set: r.get(2)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(db("reading pools"))?;
        Ok(sizes)
    }

    async fn note_tick(&self, at: DateTime<Utc>) -> PortResult<()> {
        // RFC 3339 in UTC with fixed digits: later times compare greater.
        let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        self.0
            .conn()
            .execute(
                "INSERT INTO heartbeat (name, at) VALUES ('tick', ?1)
                 ON CONFLICT (name) DO UPDATE SET at = max(at, excluded.at)",
                params![at],
            )
            .map_err(db("noting a tick"))?;
        Ok(())
    }

    async fn last_tick(&self) -> PortResult<Option<DateTime<Utc>>> {
        let at: Option<String> = self
            .0
            .conn()
            .query_row("SELECT at FROM heartbeat WHERE name = 'tick'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db("reading the heartbeat"))?;
        Ok(at
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    async fn outbox(&self, limit: usize) -> PortResult<Vec<Notice>> {
        self.bodies(
            "reading the event outbox",
            "SELECT body FROM outbox ORDER BY seq LIMIT ?1",
            &[&limit.to_string()],
        )
    }

    async fn clear_outbox(&self, ids: &[String]) -> PortResult<()> {
        let mut conn = self.0.conn();
        let tx = conn.transaction().map_err(db("clearing events"))?;
        for id in ids {
            tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .map_err(db("clearing events"))?;
        }
        tx.commit().map_err(db("clearing events"))?;
        Ok(())
    }

    async fn stops(&self) -> PortResult<Vec<PendingStop>> {
        self.bodies(
            "reading stops",
            "SELECT body FROM stops ORDER BY handle",
            &[],
        )
    }

    async fn clear_stop(&self, handle: &str) -> PortResult<()> {
        self.0
            .conn()
            .execute("DELETE FROM stops WHERE handle = ?1", [handle])
            .map_err(db("clearing a stop"))?;
        Ok(())
    }

    async fn put_artifacts(&self, records: &[ArtifactRecord]) -> PortResult<()> {
        let mut conn = self.0.conn();
        let tx = conn.transaction().map_err(db("recording artifacts"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO artifacts (uri, used, dag, run_id, task_id, map_index, try_number, at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(db("recording artifacts"))?;
            for r in records {
                stmt.execute(params![
                    r.uri,
                    r.used.as_str(),
                    r.dag.as_str(),
                    r.run_id,
                    r.key.task_id.as_str(),
                    map_index(&r.key),
                    r.try_number,
                    r.at.to_rfc3339_opts(SecondsFormat::Micros, true),
                    to_json(r)?
                ])
                .map_err(db("recording artifacts"))?;
            }
        }
        tx.commit().map_err(db("recording artifacts"))?;
        Ok(())
    }

    async fn artifact(&self, uri: &str) -> PortResult<Vec<ArtifactRecord>> {
        self.bodies(
            "reading lineage",
            "SELECT body FROM artifacts WHERE uri = ?1 ORDER BY at DESC",
            &[uri],
        )
    }

    async fn run_artifacts(&self, dag: &str, run_id: &str) -> PortResult<Vec<ArtifactRecord>> {
        self.bodies(
            "reading lineage",
            "SELECT body FROM artifacts WHERE dag = ?1 AND run_id = ?2 ORDER BY at, uri",
            &[dag, run_id],
        )
    }
}

/// The task queue over [`Sqlite`], with a visibility timeout.
pub struct SqliteQueue {
    db: Sqlite,
    visibility: Duration,
}

impl SqliteQueue {
    /// A queue in the state database; unacknowledged messages come back
    /// after `visibility`.
    pub fn new(db: Sqlite, visibility: Duration) -> SqliteQueue {
        SqliteQueue { db, visibility }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl TaskQueue for SqliteQueue {
    async fn send(&self, message: &TaskMessage, delay: Duration) -> PortResult<()> {
        let visible_at = now_ms() + delay.as_millis() as i64;
        let body = to_json(message)?;
        self.db
            .conn()
            .prepare_cached("INSERT INTO queue (body, visible_at) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![body, visible_at]))
            .map_err(db("sending a task message"))?;
        Ok(())
    }

    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>> {
        let now = now_ms();
        let mut conn = self.db.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("receiving task messages"))?;
        let mut out = Vec::new();
        {
            let mut select = tx
                .prepare_cached("SELECT id, body, receive_count FROM queue WHERE visible_at <= ?1 ORDER BY id LIMIT ?2")
                .map_err(db("receiving task messages"))?;
            let rows = select
                .query_map(params![now, max as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                })
                .map_err(db("receiving task messages"))?;
            let rows: Vec<_> = rows
                .collect::<Result<_, _>>()
                .map_err(db("receiving task messages"))?;
            let mut hide = tx
                .prepare_cached("UPDATE queue SET visible_at = ?1, receipt = ?2, receive_count = ?3 WHERE id = ?4")
                .map_err(db("receiving task messages"))?;
            for (id, body, count) in rows {
                let receipt = format!("{id}:{now}:{count}");
                hide.execute(params![
                    now + self.visibility.as_millis() as i64,
                    receipt,
                    count + 1,
                    id
                ])
                .map_err(db("receiving task messages"))?;
                out.push(Delivery {
                    message: from_json(&body)?,
                    receipt,
                    receive_count: count + 1,
                });
            }
        }
        tx.commit().map_err(db("receiving task messages"))?;
        Ok(out)
    }

    async fn ack(&self, delivery: &Delivery) -> PortResult<()> {
        self.db
            .conn()
            .prepare_cached("DELETE FROM queue WHERE receipt = ?1")
            .and_then(|mut s| s.execute([&delivery.receipt]))
            .map_err(db("acknowledging a task message"))?;
        Ok(())
    }

    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()> {
        self.db
            .conn()
            .execute(
                "UPDATE queue SET visible_at = ?1 WHERE receipt = ?2",
                params![now_ms() + by.as_millis() as i64, delivery.receipt],
            )
            .map_err(db("extending a task message"))?;
        Ok(())
    }
}
