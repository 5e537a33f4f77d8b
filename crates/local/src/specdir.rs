//! Specs from a directory: every `*.yaml` / `*.yml` file, validated as one
//! set, re-read only when a file changed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use updraft_core::spec::{Diagnostic, SpecFile, SpecSet, spec_text, validate_set};
use updraft_core::yaml::Pos;
use updraft_engine::ports::{LoadedSpecs, PortError, PortResult, SpecSource};

/// What identifies the directory's content: each file's path, size and
/// modification time.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// A [`SpecSource`] over a directory.
pub struct SpecDir {
    dir: PathBuf,
    cache: Mutex<Option<(Fingerprint, LoadedSpecs)>>,
}

impl SpecDir {
    /// Specs from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SpecDir {
        SpecDir {
            dir: dir.into(),
            cache: Mutex::new(None),
        }
    }

    fn fingerprint(&self) -> PortResult<Fingerprint> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            PortError::msg(format!(
                "cannot read the spec directory {}: {e} (set --specs or UPDRAFT_SPECS)",
                self.dir.display()
            ))
        })?;
        let mut files: Fingerprint = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if is_spec_file(&path) {
                // A link's target's size and time: the file that is read.
                let meta = std::fs::metadata(&path).ok();
                files.push((
                    path,
                    meta.as_ref().map_or(0, |m| m.len()),
                    meta.and_then(|m| m.modified().ok()),
                ));
            }
        }
        files.sort();
        Ok(files)
    }
}

/// Whether a path names a spec file.
pub fn is_spec_file(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// Reads spec files; a file that cannot be read, or is not UTF-8 text, is
/// that file's error alone.
pub fn read_spec_files(paths: &[PathBuf]) -> Vec<Result<SpecFile, Diagnostic>> {
    paths.iter().map(|path| read_spec_file(path)).collect()
}

/// Reads and validates spec files as one set: a file that cannot be read
/// is an error of the set, and the others are validated without it.
pub fn validate_spec_files(paths: &[PathBuf]) -> (Vec<SpecFile>, SpecSet) {
    let (mut files, mut unreadable) = (Vec::new(), Vec::new());
    for read in read_spec_files(paths) {
        match read {
            Ok(file) => files.push(file),
            Err(error) => unreadable.push(error),
        }
    }
    let mut set = validate_set(&files);
    set.errors.extend(unreadable);
    (files, set)
}

fn read_spec_file(path: &Path) -> Result<SpecFile, Diagnostic> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Diagnostic {
        file: name.clone(),
        pos: Pos { line: 1, col: 1 },
        message: format!("cannot read: {e}"),
    })?;
    let text = spec_text(&name, bytes)?;
    Ok(SpecFile { name, text })
}

#[async_trait]
impl SpecSource for SpecDir {
    async fn load(&self) -> PortResult<LoadedSpecs> {
        let fingerprint = self.fingerprint()?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, loaded)) = cache.as_ref()
            && *seen == fingerprint
        {
            return Ok(loaded.clone());
        }
        let paths: Vec<PathBuf> = fingerprint.iter().map(|(p, _, _)| p.clone()).collect();
        let (files, set) = validate_spec_files(&paths);
        let pools = set.pool_slots();
        let loaded = LoadedSpecs {
            dags: set
                .dags
                .into_values()
                .map(|spec| {
                    let text = files
                        .iter()
                        .find(|f| f.name == spec.file)
                        .map(|f| f.text.clone())
                        .unwrap_or_default();
                    (spec, text)
                })
                .collect(),
            errors: set.errors,
            metas: None,
            pools,
        };
        *cache = Some((fingerprint, loaded.clone()));
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec linked into the directory (a checkout elsewhere) is read
    /// again when the file it links to changes, not only when the link does.
    #[tokio::test]
    async fn a_linked_spec_is_read_again_when_its_target_changes() {
        let dir = tempfile::tempdir().unwrap();
        let specs = dir.path().join("specs");
        std::fs::create_dir(&specs).unwrap();
        let target = dir.path().join("etl.yaml");
        std::fs::write(
            &target,
            "dag: etl\ntasks:\n  - id: a\n    command: [true]\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&target, specs.join("etl.yaml")).unwrap();
        let source = SpecDir::new(&specs);
        let first = source.load().await.unwrap();
        assert_eq!(first.dags[0].0.tasks.len(), 1);

        std::fs::write(
            &target,
            "dag: etl\ntasks:\n  - id: a\n    command: [true]\n  - id: b\n    command: [true]\n",
        )
        .unwrap();
        let second = source.load().await.unwrap();
        assert_eq!(second.dags[0].0.tasks.len(), 2, "the change is seen");
    }
}
