//! Specs on AWS. They live as `specs/<dag>.yaml` in a versioned bucket, but
//! a tick reads them from the state table: each DAG's metadata names its
//! current spec version, whose text the table keeps. So an idle tick makes
//! no S3 request at all; S3 is read only when a spec is uploaded — by
//! [`deploy`], or by [`sync_object`] when the bucket notifies an upload
//! made with plain `aws s3 cp`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::sdk_error::fail;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use updraft_core::ids::DagId;
use updraft_core::spec::{
    DagSpec, Diagnostic, POOLS_FILE, SpecFile, is_pools_file, parse_spec, validate_set,
};
use updraft_core::yaml::{self, Pos, Value};
use updraft_engine::ports::{
    DagChange, DagMeta, LoadedSpecs, PortError, PortResult, SpecSource, StateStore,
};

/// Where spec files go in the bucket.
pub const PREFIX: &str = "specs/";

/// The key of a DAG's spec file.
pub fn spec_key(dag: &str) -> String {
    format!("{PREFIX}{dag}.yaml")
}

/// The current specs, from the state table.
pub struct TableSpecs {
    store: Arc<dyn StateStore>,
    parsed: Mutex<HashMap<(String, String), (DagSpec, String)>>,
}

impl TableSpecs {
    /// Specs as the table's DAG metadata names them.
    pub fn new(store: Arc<dyn StateStore>) -> TableSpecs {
        TableSpecs {
            store,
            parsed: Mutex::default(),
        }
    }
}

#[async_trait]
impl SpecSource for TableSpecs {
    async fn load(&self) -> PortResult<LoadedSpecs> {
        let mut loaded = LoadedSpecs::default();
        let metas = self.store.dags().await?;
        for meta in &metas {
            let dag = meta.dag.to_string();
            if let Some(error) = import_error(meta) {
                loaded.errors.push(error);
                continue;
            }
            let Some(version) = meta.current_version.clone() else {
                continue;
            };
            let key = (dag.clone(), version.clone());
            let cached = self
                .parsed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned();
            let entry = match cached {
                Some(entry) => entry,
                None => {
                    // A version that is missing or no longer parses (a newer
                    // updraft, a hand-edited item) is that DAG's import
                    // error; the other DAGs load.
                    let parsed = match self.store.spec_version(&dag, &version).await {
                        Err(e) => Err(format!(
                            "spec version {version} of DAG `{dag}` could not be read: {e}"
                        )),
                        Ok(None) => Err(format!(
                            "spec version {version} of DAG `{dag}` is missing from the table"
                        )),
                        Ok(Some(source)) => parse_spec(&spec_key(&dag), &source)
                            .map(|spec| (spec, source))
                            .map_err(|e| {
                                format!("stored spec version {version} no longer parses: {e}")
                            }),
                    };
                    match parsed {
                        Ok(entry) => {
                            self.parsed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(key, entry.clone());
                            entry
                        }
                        Err(message) => {
                            loaded.errors.push(dag_error(&dag, message));
                            continue;
                        }
                    }
                }
            };
            loaded.dags.push(entry);
        }
        loaded.metas = Some(metas);
        Ok(loaded)
    }

    async fn import_errors(&self) -> PortResult<Vec<Diagnostic>> {
        Ok(self
            .store
            .dags()
            .await?
            .iter()
            .filter_map(import_error)
            .collect())
    }
}

/// The import error an upload left on a DAG's metadata.
fn import_error(meta: &DagMeta) -> Option<Diagnostic> {
    let message = meta.import_error.clone()?;
    Some(dag_error(meta.dag.as_str(), message))
}

/// A problem of a DAG's spec file as a whole.
fn dag_error(dag: &str, message: String) -> Diagnostic {
    Diagnostic {
        file: spec_key(dag),
        pos: Pos { line: 1, col: 1 },
        message,
    }
}

/// Why specs were not deployed.
#[derive(Debug)]
pub enum DeployError {
    /// The specs are invalid or clash with the bucket: nothing was uploaded.
    Rejected(Vec<String>),
    /// S3 or the table failed.
    Port(PortError),
}

impl From<PortError> for DeployError {
    fn from(e: PortError) -> Self {
        DeployError::Port(e)
    }
}

/// The DAG id a spec text declares, if it declares one.
fn declared_id(text: &str) -> Option<String> {
    let root = yaml::parse(text).ok()?;
    let Value::Map(entries) = root.value else {
        return None;
    };
    entries
        .into_iter()
        .find(|e| e.key == "dag")
        .and_then(|e| match e.value.value {
            Value::Str(id) => Some(id),
            _ => None,
        })
}

/// Validates `files` as a set, refuses a DAG id that another file in the
/// bucket already declares, then uploads each as `specs/<dag>.yaml` and
/// records its version on the DAG's metadata. Returns the DAG ids deployed.
pub async fn deploy(
    s3: &Client,
    bucket: &str,
    store: &dyn StateStore,
    files: &[SpecFile],
) -> Result<Vec<String>, DeployError> {
    let set = validate_set(files);
    if !set.errors.is_empty() {
        return Err(DeployError::Rejected(
            set.errors.iter().map(ToString::to_string).collect(),
        ));
    }
    let ours: BTreeSet<String> = set.dags.keys().cloned().collect();
    let mut clashes = Vec::new();
    for key in list_specs(s3, bucket).await? {
        let stem = key
            .strip_prefix(PREFIX)
            .and_then(|k| k.strip_suffix(".yaml"))
            .unwrap_or_default();
        if ours.contains(stem) {
            continue;
        }
        let Some((text, _)) = latest_text(s3, bucket, &key).await? else {
            continue;
        };
        if let Some(id) = declared_id(&text).filter(|id| ours.contains(id)) {
            clashes.push(format!("DAG `{id}` is already declared by s3://{bucket}/{key}; remove or rename that file first"));
        }
    }
    if !clashes.is_empty() {
        return Err(DeployError::Rejected(clashes));
    }
    for (id, spec) in &set.dags {
        let text = files
            .iter()
            .find(|f| f.name == spec.file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        s3.put_object()
            .bucket(bucket)
            .key(spec_key(id))
            .body(ByteStream::from(text.clone().into_bytes()))
            .content_type("application/yaml")
            .send()
            .await
            .map_err(fail("S3 PutObject"))?;
        // The object's latest version, recorded as an upload event would
        // (whichever of the two comes second changes nothing).
        sync_key(s3, bucket, store, &spec_key(id)).await?;
    }
    // The pools file is kept beside the specs for people, and its sizes in
    // the table, where dispatchers read them.
    if let (Some(slots), Some(file)) = (
        set.pool_slots(),
        files.iter().find(|f| is_pools_file(&f.name)),
    ) {
        s3.put_object()
            .bucket(bucket)
            .key(format!("{PREFIX}{POOLS_FILE}"))
            .body(ByteStream::from(file.text.clone().into_bytes()))
            .content_type("application/yaml")
            .send()
            .await
            .map_err(fail("S3 PutObject"))?;
        store.declare_pools(&slots).await?;
    }
    Ok(ours.into_iter().collect())
}

/// What an upload notification led to.
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

/// The DAG a key under `specs/` is named after; `specs/pools.yaml` is
/// the pools file, not a DAG.
fn dag_of(key: &str) -> Option<&str> {
    let stem = key.strip_prefix(PREFIX)?.strip_suffix(".yaml")?;
    (!is_pools_file(key) && DagId::parse(stem).is_ok()).then_some(stem)
}

/// How often a sync reads again after another writer changed the DAG's
/// metadata between its read and its write.
const MAX_SYNC_ROUNDS: usize = 4;

/// Brings a DAG's metadata to what its spec object now is, whichever
/// upload or deletion event (late, replayed or out of order) or deploy
/// asks: the object's latest version becomes the DAG's current spec (or
/// its import error), and a deleted object unschedules the DAG. The write
/// is a compare-and-set on the stored object version, and a version older
/// than the stored one (in the order S3 lists them) is never written, so
/// nothing rolls a DAG back.
pub async fn sync_key(
    s3: &Client,
    bucket: &str,
    store: &dyn StateStore,
    key: &str,
) -> PortResult<Synced> {
    let Some(stem) = dag_of(key) else {
        return Ok(Synced::Ignored);
    };
    let dag_id = DagId::parse(stem).map_err(PortError::msg)?;
    for _ in 0..MAX_SYNC_ROUNDS {
        let meta = store
            .dag(stem)
            .await?
            .unwrap_or_else(|| DagMeta::new(dag_id.clone()));
        let (change, synced) = match latest_text(s3, bucket, key).await? {
            None => {
                if meta.current_version.is_none() && meta.import_error.is_none() {
                    return Ok(Synced::Ignored);
                }
                let removed = Synced::Removed {
                    dag: stem.to_string(),
                };
                (source(None, None, None), removed)
            }
            Some((text, version)) => {
                if let (Some(stored), Some(latest)) = (&meta.source_version, &version) {
                    if stored == latest {
                        return Ok(Synced::Ignored);
                    }
                    if newer(s3, bucket, key, stored, latest).await? {
                        return Ok(Synced::Ignored);
                    }
                }
                read_source(store, bucket, key, &dag_id, &text, version).await?
            }
        };
        let mut change = change;
        if let DagChange::Source { expect, .. } = &mut change {
            *expect = Some(meta.source_version.clone());
        }
        if store.update_dag(&dag_id, &change).await? {
            return Ok(synced);
        }
    }
    Err(PortError::msg(format!(
        "the metadata of DAG `{stem}` kept changing while {key} was synced; the next event or deploy tries again"
    )))
}

/// A spec source change that applies whatever is stored.
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
    }
}

/// Parses a spec object's text: a valid spec is stored as a version and
/// becomes current; anything else is the DAG's import error.
async fn read_source(
    store: &dyn StateStore,
    bucket: &str,
    key: &str,
    dag_id: &DagId,
    text: &str,
    version: Option<String>,
) -> PortResult<(DagChange, Synced)> {
    let file = format!("s3://{bucket}/{key}");
    let problems = match parse_spec(&file, text) {
        Ok(spec) if spec.id == *dag_id => {
            store
                .put_spec_version(dag_id.as_str(), &spec.version, text, chrono::Utc::now())
                .await?;
            let synced = Synced::Current {
                dag: dag_id.to_string(),
                version: spec.version.clone(),
            };
            return Ok((source(Some(spec.version), None, version), synced));
        }
        Ok(spec) => vec![format!(
            "{file}:1:1: the file declares DAG `{}`; name it {}",
            spec.id,
            spec_key(spec.id.as_str())
        )],
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    };
    let change = source(None, Some(problems.join("\n")), version);
    let synced = Synced::ImportError {
        dag: dag_id.to_string(),
        errors: problems,
    };
    Ok((change, synced))
}

/// The latest version of an object: its text and version id; `None` if it
/// is deleted.
async fn latest_text(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> PortResult<Option<(String, Option<String>)>> {
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(fail("S3 GetObject")(e)),
    };
    let version = out.version_id.clone();
    Ok(Some((object_text(out.body, bucket, key).await?, version)))
}

/// Whether object version `a` of `key` is newer than version `b`, in the
/// order S3 lists a key's versions (newest first). A version no longer
/// listed counts as older.
async fn newer(s3: &Client, bucket: &str, key: &str, a: &str, b: &str) -> PortResult<bool> {
    let mut marker: Option<(String, String)> = None;
    loop {
        let mut list = s3.list_object_versions().bucket(bucket).prefix(key);
        if let Some((key_marker, version_marker)) = &marker {
            list = list
                .key_marker(key_marker)
                .version_id_marker(version_marker);
        }
        let out = list.send().await.map_err(fail("S3 ListObjectVersions"))?;
        for version in out.versions().iter().filter(|v| v.key() == Some(key)) {
            match version.version_id() {
                Some(id) if id == a => return Ok(true),
                Some(id) if id == b => return Ok(false),
                _ => {}
            }
        }
        match (out.next_key_marker(), out.next_version_id_marker()) {
            (Some(k), Some(v)) if out.is_truncated() == Some(true) => {
                marker = Some((k.to_string(), v.to_string()));
            }
            _ => return Ok(false),
        }
    }
}

async fn list_specs(s3: &Client, bucket: &str) -> PortResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(PREFIX)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(fail("S3 ListObjectsV2"))?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        token = out.next_continuation_token;
        if token.is_none() {
            return Ok(keys);
        }
    }
}

async fn object_text(body: ByteStream, bucket: &str, key: &str) -> PortResult<String> {
    let bytes = body
        .collect()
        .await
        .map_err(|e| PortError::new("reading an S3 object", e))?
        .into_bytes();
    String::from_utf8(bytes.to_vec())
        .map_err(|_| PortError::msg(format!("s3://{bucket}/{key} is not UTF-8 text")))
}
