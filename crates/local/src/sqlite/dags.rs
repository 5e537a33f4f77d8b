//! DAG metadata and spec versions in SQLite.

use super::*;

#[async_trait]
impl DagStore for SqliteStore {
    async fn dag(&self, dag: &str) -> PortResult<Option<DagMeta>> {
        off_runtime(|| {
            let body: Option<String> = self
                .0
                .conn()
                .query_row("SELECT body FROM dags WHERE dag = ?1", [dag], |r| r.get(0))
                .optional()
                .map_err(db("reading a DAG"))?;
            body.as_deref().map(from_json).transpose()
        })
    }

    async fn dags(&self) -> PortResult<Vec<DagMeta>> {
        off_runtime(|| {
            let conn = self.0.conn();
            let mut stmt = conn
                .prepare("SELECT body FROM dags ORDER BY dag")
                .map_err(db("listing DAGs"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db("listing DAGs"))?;
            rows.map(|row| from_json(&row.map_err(db("listing DAGs"))?))
                .collect()
        })
    }

    async fn update_dag(&self, dag: &DagId, change: &DagChange) -> PortResult<bool> {
        off_runtime(|| {
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
        })
    }

    async fn put_spec_version(
        &self,
        dag: &str,
        version: &str,
        source: &str,
        seen_at: DateTime<Utc>,
    ) -> PortResult<()> {
        off_runtime(|| {
            let seen_at = seen_at.to_rfc3339_opts(SecondsFormat::Micros, true);
            self.0
                .conn()
                .execute(
                    "INSERT OR IGNORE INTO spec_versions (dag, version, source, first_seen) VALUES (?1, ?2, ?3, ?4)",
                    params![dag, version, source, seen_at],
                )
                .map_err(db("storing a spec version"))?;
            Ok(())
        })
    }

    async fn spec_version(&self, dag: &str, version: &str) -> PortResult<Option<String>> {
        off_runtime(|| {
            self.0
                .conn()
                .query_row(
                    "SELECT source FROM spec_versions WHERE dag = ?1 AND version = ?2",
                    [dag, version],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db("reading a spec version"))
        })
    }

    async fn spec_versions(&self, dag: &str) -> PortResult<Vec<StoredVersion>> {
        off_runtime(|| {
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
        })
    }
}
