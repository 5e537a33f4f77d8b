//! Wake-ups between the processes of one state directory, so that none
//! polls for another's writes: whoever queues a try rings `updraft dev`'s
//! doorbell (`dev.sock`), and the loop rings everyone waiting on a run
//! (`waiting/*.sock`) when runs move. A ring is one Unix datagram, sent
//! without blocking and without caring whether anyone listens; a lost one
//! costs only latency, since the loop and the waiters still look once a
//! second.

use std::io;
use std::os::unix::net::UnixDatagram as Sender;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::UnixDatagram;

/// A doorbell's socket, bound; the file goes when it is dropped.
pub struct Doorbell {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Doorbell {
    /// Binds the doorbell at `path`, replacing a file a dead process left.
    pub fn bind(path: &Path) -> io::Result<Doorbell> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(Doorbell {
            socket: UnixDatagram::bind(path)?,
            path: path.to_path_buf(),
        })
    }

    /// `updraft dev`'s doorbell in state directory `state`. Only the holder
    /// of the loop lock binds it.
    pub fn of_dev(state: &Path) -> io::Result<Doorbell> {
        Doorbell::bind(&dev_path(state))
    }

    /// A doorbell for this process to wait on a run with.
    pub fn waiting(state: &Path) -> io::Result<Doorbell> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = state.join("waiting");
        std::fs::create_dir_all(&dir)?;
        let name = format!(
            "{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Doorbell::bind(&dir.join(name))
    }

    /// Resolves at the next ring, taking every ring already waiting with it.
    pub async fn rung(&self) {
        let mut buf = [0u8; 8];
        if self.socket.recv(&mut buf).await.is_err() {
            // A broken socket must not spin the loop: the caller's own
            // once-a-second look still runs.
            std::future::pending::<()>().await;
        }
        while self.socket.try_recv(&mut buf).is_ok() {}
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where `updraft dev` listens.
pub fn dev_path(state: &Path) -> PathBuf {
    state.join("dev.sock")
}

/// A socket that rings doorbells, never blocking.
struct Ringer(Option<Sender>);

impl Ringer {
    fn new() -> Ringer {
        let sender = Sender::unbound().ok();
        let sender = sender.filter(|s| s.set_nonblocking(true).is_ok());
        Ringer(sender)
    }

    /// Rings `path`; false if no process holds that doorbell any more.
    fn ring(&self, path: &Path) -> bool {
        let Some(sender) = &self.0 else { return true };
        !matches!(
            sender.send_to(b"!", path).map_err(|e| e.kind()),
            Err(io::ErrorKind::ConnectionRefused)
        )
    }
}

/// Rings `updraft dev`'s doorbell in one state directory, as often as
/// tries are queued there.
pub struct DevBell {
    ringer: Ringer,
    path: PathBuf,
}

impl DevBell {
    /// The bell of `updraft dev` in `state`.
    pub fn new(state: &Path) -> DevBell {
        DevBell {
            ringer: Ringer::new(),
            path: dev_path(state),
        }
    }

    /// Something was queued.
    pub fn ring(&self) {
        self.ringer.ring(&self.path);
    }
}

/// Rings everyone waiting on a run in `state`, and removes the doorbells
/// of waiters that died.
pub fn ring_waiters(state: &Path) {
    let Ok(entries) = std::fs::read_dir(state.join("waiting")) else {
        return;
    };
    let ringer = Ringer::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !ringer.ring(&path) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_ring_wakes_the_doorbell_and_rings_before_it_are_taken_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let bell = Doorbell::of_dev(dir.path()).unwrap();
        let ringer = DevBell::new(dir.path());
        for _ in 0..3 {
            ringer.ring();
        }
        tokio::time::timeout(Duration::from_secs(5), bell.rung())
            .await
            .expect("rung");
        let again = tokio::time::timeout(Duration::from_millis(50), bell.rung()).await;
        assert!(again.is_err(), "the three rings were taken at once");
    }

    #[tokio::test]
    async fn waiters_are_rung_and_a_dead_waiters_doorbell_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let waiter = Doorbell::waiting(dir.path()).unwrap();
        // One whose process died without removing its file.
        let dead = dir.path().join("waiting/1-0.sock");
        drop(Sender::bind(&dead).unwrap());
        ring_waiters(dir.path());
        tokio::time::timeout(Duration::from_secs(5), waiter.rung())
            .await
            .expect("rung");
        assert!(!dead.exists());
        // Nobody listening: ringing neither blocks nor fails.
        drop(waiter);
        DevBell::new(dir.path()).ring();
        ring_waiters(dir.path());
        assert_eq!(
            std::fs::read_dir(dir.path().join("waiting"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn a_full_doorbell_does_not_block_the_ringer() {
        let dir = tempfile::tempdir().unwrap();
        let _bell = Doorbell::of_dev(dir.path()).unwrap();
        // Far more rings than a socket buffers, none read.
        let ringer = DevBell::new(dir.path());
        for _ in 0..1_000 {
            ringer.ring();
        }
    }
}
