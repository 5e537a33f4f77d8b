//! One `updraft dev` (or `updraft run`) per state directory: an exclusive
//! `flock` on `<state>/dev.lock`, released when the process ends however it
//! ends. Other commands use it to tell whether a loop is running.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The held lock; dropping it releases it.
pub struct DevLock {
    _file: File,
}

fn open(state: &Path) -> std::io::Result<File> {
    crate::files::private_dir(state)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(state.join("dev.lock"))
}

fn try_lock(file: &File) -> bool {
    // LOCK_NB: fail at once instead of waiting for the holder.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

impl DevLock {
    /// Takes the lock; `Ok(None)` if another process holds it.
    pub fn acquire(state: &Path) -> std::io::Result<Option<DevLock>> {
        let file = open(state)?;
        Ok(try_lock(&file).then_some(DevLock { _file: file }))
    }

    /// Whether some process holds the lock now.
    pub fn is_held(state: &Path) -> std::io::Result<bool> {
        // Locking succeeds only if nobody holds it; dropping releases it.
        Ok(!try_lock(&open(state)?))
    }
}
