//! The state file's schema, as numbered migrations: a database's `PRAGMA
//! user_version` counts those it has had, and opening it applies the rest,
//! each in its own transaction, so a file from any earlier updraft opens
//! and one from a later updraft is refused rather than misread.

use rusqlite::{Connection, TransactionBehavior};

/// Why a state file could not be brought to this updraft's schema.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a later updraft.
    #[error(
        "written by a newer updraft (schema version {found}; this one knows up to {known}); upgrade updraft"
    )]
    Newer {
        /// The file's version.
        found: i64,
        /// The latest this build knows.
        known: i64,
    },
}

/// One schema change.
type Migration = fn(&Connection) -> rusqlite::Result<()>;

/// Every schema change, oldest first. Append; never edit one that shipped.
const MIGRATIONS: &[Migration] = &[baseline];

/// Version 1: the schema as it stood when migrations were numbered. Files
/// from before then (version 0) may hold any earlier form of it, so it
/// creates only what is missing, and adds the column spec versions gained.
fn baseline(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(BASELINE)?;
    let has_first_seen: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('spec_versions') WHERE name = 'first_seen'",
        [],
        |r| r.get(0),
    )?;
    if !has_first_seen {
        conn.execute("ALTER TABLE spec_versions ADD COLUMN first_seen TEXT", [])?;
    }
    Ok(())
}

const BASELINE: &str = "
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

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Applies the migrations `conn`'s file has not had. Another process
/// opening the same file at once waits for the write lock and then finds
/// them done.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > latest() {
            return Err(MigrateError::Newer {
                found: version,
                known: latest(),
            });
        }
        let Some(migration) = MIGRATIONS.get(version as usize) else {
            return Ok(());
        };
        migration(&tx)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_file_gets_every_migration_and_a_second_open_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest());
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest());
    }

    #[test]
    fn a_file_from_before_numbered_migrations_is_brought_up_keeping_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE spec_versions (dag TEXT NOT NULL, version TEXT NOT NULL,
                 source TEXT NOT NULL, PRIMARY KEY (dag, version));
             INSERT INTO spec_versions VALUES ('etl', 'abc', 'dag: etl');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest());
        let (source, seen): (String, Option<String>) = conn
            .query_row(
                "SELECT source, first_seen FROM spec_versions WHERE dag = 'etl'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((source.as_str(), seen), ("dag: etl", None));
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1, "the tables it lacked were created");
    }

    #[test]
    fn a_file_from_a_newer_updraft_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        let error = migrate(&mut conn).unwrap_err();
        assert!(error.to_string().contains("newer updraft"), "{error}");
        let tables: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
