//! Tries and launch handles, and recording a launch or an end in SQLite.

use super::*;

#[async_trait]
impl AttemptStore for SqliteStore {
    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()> {
        off_runtime(|| {
            self.write_attempt("INSERT OR REPLACE", dag, run_id, attempt)?;
            Ok(())
        })
    }

    async fn put_new_attempt(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
    ) -> PortResult<bool> {
        off_runtime(|| Ok(self.write_attempt("INSERT OR IGNORE", dag, run_id, attempt)? == 1))
    }

    async fn attempt(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
    ) -> PortResult<Option<Attempt>> {
        off_runtime(|| {
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
        })
    }

    async fn attempts(&self, dag: &str, run_id: &str) -> PortResult<Vec<Attempt>> {
        off_runtime(|| {
            let conn = self.0.conn();
            let mut stmt = conn
                .prepare("SELECT body FROM attempts WHERE dag = ?1 AND run_id = ?2 ORDER BY task_id, map_index, try_number")
                .map_err(db("reading attempts"))?;
            let rows = stmt
                .query_map([dag, run_id], |r| r.get::<_, String>(0))
                .map_err(db("reading attempts"))?;
            rows.map(|row| from_json(&row.map_err(db("reading attempts"))?))
                .collect()
        })
    }

    async fn put_handle(&self, handle: &str, try_ref: &HandleRef) -> PortResult<()> {
        off_runtime(|| {
            let body = to_json(try_ref)?;
            self.0
                .conn()
                .execute(
                    "INSERT OR REPLACE INTO handles (handle, body) VALUES (?1, ?2)",
                    params![handle, body],
                )
                .map_err(db("recording a launch handle"))?;
            Ok(())
        })
    }

    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>> {
        off_runtime(|| {
            Ok(self
                .bodies(
                    "reading a launch handle",
                    "SELECT body FROM handles WHERE handle = ?1",
                    &[handle],
                )?
                .pop())
        })
    }
}
