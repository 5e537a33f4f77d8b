//! Files of the state directory: made private to their owner (runs, logs
//! and outputs may hold what only the team should read), and read only
//! when they are regular files, so a task that swaps its output or log for
//! a FIFO or a device cannot hang whoever reads it.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its missing parents) readable by its owner alone; an
/// existing directory of ours is made so.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // Made by an older updraft (0755): tighten it. Not ours: leave it.
    let _ = std::fs::set_permissions(dir, Permissions::from_mode(0o700));
    Ok(())
}

/// Opens `path` for appending, creating it readable by its owner alone.
pub fn private_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Creates `path` empty and private if it is missing; leaves it otherwise.
pub fn private_file(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

/// Opens `path` for reading if it is a regular file, without blocking on
/// anything else; `None` if it does not exist.
pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking_and_what_is_made_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("output.json");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let refused = open_regular(&fifo).unwrap_err();
        assert!(
            refused.to_string().ends_with("is not a regular file"),
            "{refused}"
        );
        assert!(open_regular(&dir.path().join("missing")).unwrap().is_none());

        let state = dir.path().join("state/logs");
        private_dir(&state).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        private_append(&state.join("a.log")).unwrap();
        assert_eq!(mode(&state.join("a.log")), 0o600);
        private_file(&state.join("state.db")).unwrap();
        assert_eq!(mode(&state.join("state.db")), 0o600);
    }
}
