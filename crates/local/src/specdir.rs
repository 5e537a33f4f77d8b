//! Specs from a directory: every `*.yaml` / `*.yml` file, validated as one
//! set, re-read only when a file changed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use updraft_core::spec::{SpecFile, validate_set};
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
                let meta = entry.metadata().ok();
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

/// Reads spec files; unreadable files are reported as errors of the set.
pub fn read_spec_files(paths: &[PathBuf]) -> Vec<Result<SpecFile, String>> {
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| SpecFile {
                    name: path.display().to_string(),
                    text,
                })
                .map_err(|e| format!("{}: cannot read: {e}", path.display()))
        })
        .collect()
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
        let mut files = Vec::new();
        for read in read_spec_files(&paths) {
            files.push(read.map_err(PortError::msg)?);
        }
        let set = validate_set(&files);
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
