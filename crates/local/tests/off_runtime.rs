//! A SQLite call that waits for another process's lock does not stall the
//! runtime the dashboard and the `dev` loop share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use updraft_core::ids::DagId;
use updraft_engine::ports::{DagChange, DagStore};
use updraft_local::sqlite::{Sqlite, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_write_waiting_for_the_lock_leaves_the_runtime_to_other_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore(Sqlite::open(&path).unwrap());
    // Another process holds the write lock for half a second.
    let (locked, held) = std::sync::mpsc::channel();
    let other = {
        let path = path.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            conn.execute_batch("COMMIT").unwrap();
        })
    };
    held.recv().unwrap();
    // Meanwhile a task of the same runtime (a page being served) ticks.
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            for _ in 0..200 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    // The write runs on the runtime's one worker, as a request would.
    let write = tokio::spawn(async move {
        let dag = DagId::parse("etl").unwrap();
        store.update_dag(&dag, &DagChange::Paused(true)).await
    });
    let written = write.await.unwrap().unwrap();
    let during = ticks.load(Ordering::Relaxed);
    assert!(written);
    assert!(
        during >= 10,
        "the other task ran only {during} times while the write waited"
    );
    other.join().unwrap();
    ticker.abort();
}
