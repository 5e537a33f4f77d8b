//! Stops and events left for the next tick, and the tick's heartbeat in SQLite.

use super::*;

#[async_trait]
impl LeftoverStore for SqliteStore {
    async fn put_stop(&self, stop: &PendingStop) -> PortResult<()> {
        off_runtime(|| {
            let body = to_json(stop)?;
            self.0
                .conn()
                .execute(
                    "INSERT OR IGNORE INTO stops (handle, body) VALUES (?1, ?2)",
                    params![stop.handle, body],
                )
                .map_err(db("recording a stop"))?;
            Ok(())
        })
    }

    async fn stops(&self) -> PortResult<Vec<PendingStop>> {
        off_runtime(|| {
            self.bodies(
                "reading stops",
                "SELECT body FROM stops ORDER BY handle",
                &[],
            )
        })
    }

    async fn clear_stop(&self, handle: &str) -> PortResult<()> {
        off_runtime(|| {
            self.0
                .conn()
                .execute("DELETE FROM stops WHERE handle = ?1", [handle])
                .map_err(db("clearing a stop"))?;
            Ok(())
        })
    }

    async fn outbox(&self, limit: usize) -> PortResult<Vec<Notice>> {
        off_runtime(|| {
            self.bodies(
                "reading the event outbox",
                "SELECT body FROM outbox ORDER BY seq LIMIT ?1",
                &[&limit.to_string()],
            )
        })
    }

    async fn clear_outbox(&self, ids: &[String]) -> PortResult<()> {
        off_runtime(|| {
            let mut conn = self.0.conn();
            let tx = conn.transaction().map_err(db("clearing events"))?;
            for id in ids {
                tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .map_err(db("clearing events"))?;
            }
            tx.commit().map_err(db("clearing events"))?;
            Ok(())
        })
    }

    async fn note_tick(&self, at: DateTime<Utc>) -> PortResult<()> {
        off_runtime(|| {
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
        })
    }

    async fn last_tick(&self) -> PortResult<Option<DateTime<Utc>>> {
        off_runtime(|| {
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
        })
    }
}
