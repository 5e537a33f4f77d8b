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
use updraft_engine::ports::{
    ArtifactStore, AttemptStore, DagChange, DagMeta, DagStore, Delivery, HandleRef, LeftoverStore,
    PendingStop, PoolSize, PoolStore, PortError, PortResult, RunQuery, RunStore, SlotClaim,
    StoredVersion, TaskMessage, TaskQueue,
};

mod artifacts;
mod attempts;
mod dags;
mod leftovers;
mod pools;
mod runs;
mod schema;

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
        let mut conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        schema::migrate(&mut conn).map_err(|e| match e {
            schema::MigrateError::Sqlite(e) => fail(e),
            newer => PortError::msg(format!("state database {}: {newer}", path.display())),
        })?;
        Ok(Sqlite(Arc::new(Mutex::new(conn))))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs a database call off the async runtime's worker: a write can wait
/// up to the busy timeout for another process's lock, and the dashboard
/// and the `dev` loop share the runtime. On a multi-threaded runtime the
/// worker hands its other tasks over first (`block_in_place`; the call
/// borrows, so no copy of its inputs is made); on a current-thread runtime
/// (tests, one-shot commands) there is nothing else to stall, and it runs
/// in place.
fn off_runtime<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
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

/// The task queue over [`Sqlite`], with a visibility timeout.
pub struct SqliteQueue {
    db: Sqlite,
    visibility: Duration,
    bell: Option<crate::doorbell::DevBell>,
}

impl SqliteQueue {
    /// A queue in the state database; unacknowledged messages come back
    /// after `visibility`.
    pub fn new(db: Sqlite, visibility: Duration) -> SqliteQueue {
        SqliteQueue {
            db,
            visibility,
            bell: None,
        }
    }

    /// The same queue, ringing `bell` for each message sent, so that
    /// `updraft dev` takes it at once.
    pub fn ringing(mut self, bell: crate::doorbell::DevBell) -> SqliteQueue {
        self.bell = Some(bell);
        self
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
        off_runtime(|| {
            let visible_at = now_ms() + delay.as_millis() as i64;
            let body = to_json(message)?;
            self.db
                .conn()
                .prepare_cached("INSERT INTO queue (body, visible_at) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![body, visible_at]))
                .map_err(db("sending a task message"))?;
            if let Some(bell) = self.bell.as_ref().filter(|_| delay.is_zero()) {
                bell.ring();
            }
            Ok(())
        })
    }

    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>> {
        off_runtime(|| {
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
        })
    }

    async fn ack(&self, delivery: &Delivery) -> PortResult<()> {
        off_runtime(|| {
            self.db
                .conn()
                .prepare_cached("DELETE FROM queue WHERE receipt = ?1")
                .and_then(|mut s| s.execute([&delivery.receipt]))
                .map_err(db("acknowledging a task message"))?;
            Ok(())
        })
    }

    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()> {
        off_runtime(|| {
            self.db
                .conn()
                .execute(
                    "UPDATE queue SET visible_at = ?1 WHERE receipt = ?2",
                    params![now_ms() + by.as_millis() as i64, delivery.receipt],
                )
                .map_err(db("extending a task message"))?;
            Ok(())
        })
    }
}
