//! Lineage records in SQLite.

use super::*;

#[async_trait]
impl ArtifactStore for SqliteStore {
    async fn put_artifacts(&self, records: &[ArtifactRecord]) -> PortResult<()> {
        off_runtime(|| {
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
        })
    }

    async fn artifact(&self, uri: &str) -> PortResult<Vec<ArtifactRecord>> {
        off_runtime(|| {
            self.bodies(
                "reading lineage",
                "SELECT body FROM artifacts WHERE uri = ?1 ORDER BY at DESC",
                &[uri],
            )
        })
    }

    async fn run_artifacts(&self, dag: &str, run_id: &str) -> PortResult<Vec<ArtifactRecord>> {
        off_runtime(|| {
            self.bodies(
                "reading lineage",
                "SELECT body FROM artifacts WHERE dag = ?1 AND run_id = ?2 ORDER BY at, uri",
                &[dag, run_id],
            )
        })
    }
}
