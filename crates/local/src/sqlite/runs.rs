//! Runs, their task instances and audit entries in SQLite.

use super::*;

#[async_trait]
impl RunStore for SqliteStore {
    async fn delete_run(&self, dag: &str, run_id: &str) -> PortResult<()> {
        off_runtime(|| {
            let mut conn = self.0.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db("deleting a run"))?;
            for table in ["runs", "task_instances", "attempts", "audit", "artifacts"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE dag = ?1 AND run_id = ?2"),
                    params![dag, run_id],
                )
                .map_err(db("deleting a run"))?;
            }
            tx.execute(
                "DELETE FROM handles WHERE json_extract(body, '$.dag') = ?1 AND json_extract(body, '$.run_id') = ?2",
                params![dag, run_id],
            )
            .map_err(db("deleting a run"))?;
            tx.commit().map_err(db("deleting a run"))
        })
    }

    async fn create_run(
        &self,
        run: &Run,
        instances: &[TaskInstance],
        notices: &[Notice],
    ) -> PortResult<bool> {
        off_runtime(|| {
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
        })
    }

    async fn run(&self, dag: &str, run_id: &str) -> PortResult<Option<Run>> {
        off_runtime(|| {
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
        })
    }

    async fn runs(&self, query: &RunQuery) -> PortResult<Vec<Run>> {
        off_runtime(|| {
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
                if query.matches(&run) {
                    out.push(run);
                    if query.limit.is_some_and(|limit| out.len() >= limit) {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    async fn active_runs(&self) -> PortResult<Vec<Run>> {
        off_runtime(|| {
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
        })
    }

    async fn update_run(
        &self,
        expect: RunState,
        next: &Run,
        notices: &[Notice],
    ) -> PortResult<bool> {
        off_runtime(|| {
            let mut conn = self.0.conn();
            let tx = conn.transaction().map_err(db("updating a run"))?;
            let written = write_run(&tx, expect, next)?;
            if written {
                keep_notices(&tx, notices)?;
            }
            tx.commit().map_err(db("updating a run"))?;
            Ok(written)
        })
    }

    async fn start_run(&self, next: &Run, limit: u32, notices: &[Notice]) -> PortResult<bool> {
        off_runtime(|| {
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
        })
    }

    async fn put_audit(&self, dag: &str, run_id: &str, entry: &AuditEntry) -> PortResult<()> {
        off_runtime(|| {
            let at = entry.at.to_rfc3339_opts(SecondsFormat::Micros, true);
            self.0
                .conn()
                .execute(
                    "INSERT INTO audit (dag, run_id, at, body) VALUES (?1, ?2, ?3, ?4)",
                    params![dag, run_id, at, to_json(entry)?],
                )
                .map_err(db("keeping an audit entry"))?;
            Ok(())
        })
    }

    async fn audit(&self, dag: &str, run_id: &str) -> PortResult<Vec<AuditEntry>> {
        off_runtime(|| {
            let conn = self.0.conn();
            let mut stmt = conn
                .prepare("SELECT body FROM audit WHERE dag = ?1 AND run_id = ?2 ORDER BY at, seq")
                .map_err(db("reading audit entries"))?;
            let rows = stmt
                .query_map([dag, run_id], |r| r.get::<_, String>(0))
                .map_err(db("reading audit entries"))?;
            rows.map(|row| from_json(&row.map_err(db("reading audit entries"))?))
                .collect()
        })
    }

    async fn instances(&self, dag: &str, run_id: &str) -> PortResult<Vec<TaskInstance>> {
        off_runtime(|| {
            let conn = self.0.conn();
            let mut stmt = conn
                .prepare_cached("SELECT body FROM task_instances WHERE dag = ?1 AND run_id = ?2")
                .map_err(db("reading task instances"))?;
            let rows = stmt
                .query_map([dag, run_id], |r| r.get::<_, String>(0))
                .map_err(db("reading task instances"))?;
            rows.map(|row| from_json(&row.map_err(db("reading task instances"))?))
                .collect()
        })
    }

    async fn create_instances(
        &self,
        dag: &str,
        run_id: &str,
        instances: &[TaskInstance],
    ) -> PortResult<usize> {
        off_runtime(|| {
            let mut conn = self.0.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db("creating task instances"))?;
            let created = insert_instances(&tx, dag, run_id, instances)?;
            tx.commit().map_err(db("creating task instances"))?;
            Ok(created)
        })
    }

    async fn instance(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
    ) -> PortResult<Option<TaskInstance>> {
        off_runtime(|| {
            let body: Option<String> = self
                .0
                .conn()
                .prepare_cached("SELECT body FROM task_instances WHERE dag = ?1 AND run_id = ?2 AND task_id = ?3 AND map_index = ?4")
                .and_then(|mut s| s.query_row(params![dag, run_id, key.task_id.as_str(), map_index(key)], |r| r.get(0)).optional())
                .map_err(db("reading a task instance"))?;
            body.as_deref().map(from_json).transpose()
        })
    }

    async fn update_instance(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
        notices: &[Notice],
    ) -> PortResult<bool> {
        off_runtime(|| {
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
        })
    }
}
