//! Specs: deploying spec files and bringing each DAG's metadata to what
//! its file now is (spec ingest), and the current specs as the engine reads
//! them (from the table on AWS, from the spec directory locally, whose
//! changed files it stores the same way). The files live where deployers put them
//! ([`SpecFiles`]: the bucket's `specs/`); a DAG's current spec is the
//! version its metadata names, whose source the store keeps, so a tick
//! reads no file at all.
//!
//! A sync reads what the file is *now*, whichever event (late, replayed,
//! out of order) or deploy asks, and writes it by compare-and-set on the
//! file version stored on the DAG's metadata; a version older than the
//! stored one is never written, so nothing rolls a DAG back.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use updraft_core::ids::DagId;
use updraft_core::spec::{
    DagSpec, Diagnostic, POOLS_FILE, SpecFile, is_pools_file, parse_spec, spec_text, validate_set,
};
use updraft_core::yaml::{self, Value};

use crate::events::Event;
use crate::ports::{
    Clock, DagChange, DagMeta, LoadedSpecs, PortError, PortResult, SpecFiles, StateStore,
};
use crate::{Engine, EngineError, EngineResult};

/// Where spec files go among the deployed files.
pub const SPEC_PREFIX: &str = "specs/";

/// The key of a DAG's spec file.
pub fn spec_key(dag: &str) -> String {
    format!("{SPEC_PREFIX}{dag}.yaml")
}

/// What a deploy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// These DAGs' files were written and are current.
    Deployed(Vec<String>),
    /// The files are invalid or clash with deployed ones: nothing was
    /// written. One line per problem.
    Rejected(Vec<String>),
}

/// What a sync of one file led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Synced {
    /// The DAG's current spec is now this version.
    Current {
        /// The DAG.
        dag: String,
        /// The spec version.
        version: String,
    },
    /// The file does not validate; the DAG is skipped until it does.
    ImportError {
        /// The DAG the file is named after.
        dag: String,
        /// Every problem.
        errors: Vec<String>,
    },
    /// The file is gone: the DAG is no longer scheduled (its runs go on).
    Removed {
        /// The DAG the file was named after.
        dag: String,
    },
    /// Not a spec file, or already current.
    Ignored,
}

/// How often a sync reads again after another writer changed the DAG's
/// metadata between its read and its write.
const MAX_SYNC_ROUNDS: usize = 4;

/// Spec ingest over a store, the deployed files and a clock: what
/// [`Engine::deploy_specs`] and [`Engine::sync_spec_file`] do, usable
/// without a whole engine by adapters' tools.
pub struct SpecIngest<'a> {
    /// Where DAG metadata and spec versions are kept.
    pub store: &'a dyn StateStore,
    /// Where the files are.
    pub files: &'a dyn SpecFiles,
    /// When a version is first seen.
    pub clock: &'a dyn Clock,
}

impl Engine {
    /// The DAG's current spec, with its version stored.
    pub async fn current_spec(&self, dag: &str) -> EngineResult<Arc<DagSpec>> {
        find_spec(&self.sync_specs().await?, dag)
    }

    /// Loads the current specs, stores new versions and notes them (and
    /// clears import errors) on each DAG's metadata; the result carries
    /// every DAG's metadata as it now stands.
    pub async fn sync_specs(&self) -> EngineResult<LoadedSpecs> {
        let mut loaded = self.ports.specs.load().await?;
        let store = &self.ports.store;
        let mut metas = match loaded.metas.take() {
            Some(metas) => metas,
            None => store.dags().await?,
        };
        for (spec, source) in &loaded.dags {
            let known = metas.iter().position(|m| m.dag == spec.id);
            let mut meta = known
                .map(|i| metas[i].clone())
                .unwrap_or_else(|| DagMeta::new(spec.id.clone()));
            if meta.current_version.as_deref() != Some(&spec.version) || meta.import_error.is_some()
            {
                self.adopt(spec, source, &mut meta).await?;
            }
            match known {
                Some(i) => metas[i] = meta,
                None => metas.push(meta),
            }
            self.remember_spec(spec);
        }
        loaded.metas = Some(metas);
        if let Some(pools) = &loaded.pools {
            self.declare_pools(pools).await?;
        }
        if !loaded.errors.is_empty() {
            self.emit(Event::ImportErrors(loaded.errors.clone()));
        }
        Ok(loaded)
    }

    fn ingest(&self) -> EngineResult<SpecIngest<'_>> {
        let files = self.spec_files.as_deref().ok_or_else(|| {
            EngineError::refused(
                "this backend has no deployed spec files: its specs are read from the spec directory",
            )
        })?;
        Ok(SpecIngest {
            store: self.ports.store.as_ref(),
            files,
            clock: self.ports.clock.as_ref(),
        })
    }

    /// Validates `files` as a set, refuses a DAG id that another deployed
    /// file already declares, then writes each and makes it its DAG's
    /// current spec.
    pub async fn deploy_specs(&self, files: &[SpecFile]) -> EngineResult<Deployment> {
        Ok(self.ingest()?.deploy(files).await?)
    }

    /// Brings the DAG a file is named after to what the file now is (an
    /// upload or deletion event names it).
    pub async fn sync_spec_file(&self, key: &str) -> EngineResult<Synced> {
        Ok(self.ingest()?.sync(key).await?)
    }

    /// Stores `spec`'s version and makes it its DAG's current one, whatever
    /// is stored (the spec directory is read afresh every time, so the
    /// file's latest content always wins in the end); `meta` follows.
    pub(crate) async fn adopt(
        &self,
        spec: &DagSpec,
        source: &str,
        meta: &mut DagMeta,
    ) -> EngineResult<()> {
        let store = self.ports.store.as_ref();
        let now = self.ports.clock.now();
        let change = keep_version(store, now, spec, source, meta.source_version.clone()).await?;
        self.ports.store.update_dag(&spec.id, &change).await?;
        change.apply(meta);
        Ok(())
    }
}

impl SpecIngest<'_> {
    /// See [`Engine::deploy_specs`].
    pub async fn deploy(&self, files: &[SpecFile]) -> PortResult<Deployment> {
        let set = validate_set(files);
        if !set.errors.is_empty() {
            return Ok(Deployment::Rejected(
                set.errors.iter().map(ToString::to_string).collect(),
            ));
        }
        let ours: BTreeSet<String> = set.dags.keys().cloned().collect();
        let mut clashes = Vec::new();
        for key in self.files.keys().await? {
            let stem = key
                .strip_prefix(SPEC_PREFIX)
                .and_then(|k| k.strip_suffix(".yaml"))
                .unwrap_or_default();
            if ours.contains(stem) {
                continue;
            }
            let Some(file) = self.files.latest(&key).await? else {
                continue;
            };
            let text = String::from_utf8_lossy(&file.bytes);
            if let Some(id) = declared_id(&text).filter(|id| ours.contains(id)) {
                clashes.push(format!(
                    "DAG `{id}` is already declared by {}; remove or rename that file first",
                    self.files.location(&key)
                ));
            }
        }
        if !clashes.is_empty() {
            return Ok(Deployment::Rejected(clashes));
        }
        for (id, spec) in &set.dags {
            let text = files
                .iter()
                .find(|f| f.name == spec.file)
                .map(|f| f.text.as_str())
                .unwrap_or_default();
            self.files.put(&spec_key(id), text).await?;
            // The file's latest version, recorded as an upload event would
            // (whichever of the two comes second changes nothing).
            self.sync(&spec_key(id)).await?;
        }
        // The pools file is kept beside the specs for people, and its
        // sizes in the store, where dispatchers read them.
        if let (Some(slots), Some(file)) = (
            set.pool_slots(),
            files.iter().find(|f| is_pools_file(&f.name)),
        ) {
            self.files
                .put(&format!("{SPEC_PREFIX}{POOLS_FILE}"), &file.text)
                .await?;
            self.store.declare_pools(&slots).await?;
        }
        Ok(Deployment::Deployed(ours.into_iter().collect()))
    }

    /// See [`Engine::sync_spec_file`].
    pub async fn sync(&self, key: &str) -> PortResult<Synced> {
        let Some(stem) = dag_of(key) else {
            return Ok(Synced::Ignored);
        };
        let dag_id = DagId::parse(stem).map_err(PortError::msg)?;
        for _ in 0..MAX_SYNC_ROUNDS {
            let meta = self
                .store
                .dag(stem)
                .await?
                .unwrap_or_else(|| DagMeta::new(dag_id.clone()));
            let (mut change, synced) = match self.files.latest(key).await? {
                None => {
                    if meta.current_version.is_none() && meta.import_error.is_none() {
                        return Ok(Synced::Ignored);
                    }
                    let removed = Synced::Removed {
                        dag: stem.to_string(),
                    };
                    (source(None, None, None), removed)
                }
                Some(file) => {
                    if let (Some(stored), Some(latest)) = (&meta.source_version, &file.version) {
                        if stored == latest {
                            return Ok(Synced::Ignored);
                        }
                        if self.files.newer(key, stored, latest).await? {
                            return Ok(Synced::Ignored);
                        }
                    }
                    self.read(key, &dag_id, file.bytes, file.version).await?
                }
            };
            if let DagChange::Source { expect, .. } = &mut change {
                *expect = Some(meta.source_version.clone());
            }
            if self.store.update_dag(&dag_id, &change).await? {
                return Ok(synced);
            }
        }
        Err(PortError::msg(format!(
            "the metadata of DAG `{stem}` kept changing while {key} was synced; the next event or deploy tries again"
        )))
    }

    /// A file's text: a valid spec is stored as a version and becomes
    /// current; anything else is the DAG's import error.
    async fn read(
        &self,
        key: &str,
        dag_id: &DagId,
        bytes: Vec<u8>,
        version: Option<String>,
    ) -> PortResult<(DagChange, Synced)> {
        let file = self.files.location(key);
        let problems = match spec_text(&file, bytes) {
            Err(unreadable) => vec![unreadable.to_string()],
            Ok(text) => match parse_spec(&file, &text) {
                Ok(spec) if spec.id == *dag_id => {
                    let synced = Synced::Current {
                        dag: dag_id.to_string(),
                        version: spec.version.clone(),
                    };
                    let now = self.clock.now();
                    let change = keep_version(self.store, now, &spec, &text, version).await?;
                    return Ok((change, synced));
                }
                Ok(spec) => vec![format!(
                    "{file}:1:1: the file declares DAG `{}`; name it {}",
                    spec.id,
                    spec_key(spec.id.as_str())
                )],
                Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
            },
        };
        let change = source(None, Some(problems.join("\n")), version);
        let synced = Synced::ImportError {
            dag: dag_id.to_string(),
            errors: problems,
        };
        Ok((change, synced))
    }
}

/// Stores a valid spec's version (first seen `now`) and gives the change
/// that makes it its DAG's current one.
async fn keep_version(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    spec: &DagSpec,
    text: &str,
    source_version: Option<String>,
) -> PortResult<DagChange> {
    store
        .put_spec_version(spec.id.as_str(), &spec.version, text, now)
        .await?;
    let mut change = source(Some(spec.version.clone()), None, source_version);
    if let DagChange::Source { retention_secs, .. } = &mut change {
        *retention_secs = Some(spec.retention.map(|kept| kept.as_secs()));
    }
    Ok(change)
}

/// A change of a DAG's spec source that applies whatever is stored.
fn source(
    current_version: Option<String>,
    import_error: Option<String>,
    source_version: Option<String>,
) -> DagChange {
    DagChange::Source {
        current_version,
        import_error,
        source_version,
        expect: None,
        retention_secs: None,
    }
}

/// The DAG a key under `specs/` is named after; `specs/pools.yaml` is
/// the pools file, not a DAG.
fn dag_of(key: &str) -> Option<&str> {
    let stem = key.strip_prefix(SPEC_PREFIX)?.strip_suffix(".yaml")?;
    (!is_pools_file(key) && DagId::parse(stem).is_ok()).then_some(stem)
}

/// The DAG id a spec text declares, if it declares one.
fn declared_id(text: &str) -> Option<String> {
    let arena = yaml::Arena::new();
    let root = yaml::parse(text, &arena).ok()?;
    let Value::Map(entries) = root.value else {
        return None;
    };
    entries
        .iter()
        .find(|e| e.key == "dag")
        .and_then(|e| match e.value.value {
            Value::Str(id) => Some(id.to_string()),
            _ => None,
        })
}

/// The DAG among the loaded specs, or an error naming the known ones (and
/// the first spec error, which may be why it is missing).
pub(crate) fn find_spec(loaded: &LoadedSpecs, dag: &str) -> EngineResult<Arc<DagSpec>> {
    if let Some((spec, _)) = loaded.dags.iter().find(|(spec, _)| spec.id.as_str() == dag) {
        return Ok(Arc::new(spec.clone()));
    }
    let known: Vec<&str> = loaded.dags.iter().map(|(s, _)| s.id.as_str()).collect();
    Err(EngineError::not_found(unknown_dag(
        dag,
        "",
        &known,
        &loaded.errors,
    )))
}

/// Says that `dag` is not among the `known` DAGs (of `within`, when not
/// empty), and the first spec error, which may be why it is missing.
pub fn unknown_dag(dag: &str, within: &str, known: &[&str], errors: &[Diagnostic]) -> String {
    let within = match within.is_empty() {
        true => String::new(),
        false => format!(" in {within}"),
    };
    let known = match known.is_empty() {
        true => "none".to_string(),
        false => known.join(", "),
    };
    let mut message = format!("unknown DAG `{dag}`{within}; known DAGs: {known}");
    if let Some(first) = errors.first() {
        message += &format!(" ({} spec error(s), first: {first})", errors.len());
    }
    message
}
