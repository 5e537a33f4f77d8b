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
use updraft_core::spec::{DagSpec, Diagnostic, SpecFile, parse_spec, validate_set};
use updraft_core::yaml::{self, Pos, Value};
use updraft_engine::ports::{DagMeta, LoadedSpecs, PortError, PortResult, SpecSource, StateStore};

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
                    let parsed = match self.store.spec_version(&dag, &version).await? {
                        None => Err(format!(
                            "spec version {version} of DAG `{dag}` is missing from the table"
                        )),
                        Some(source) => parse_spec(&spec_key(&dag), &source)
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
        let text = get_text(s3, bucket, &key, None).await?.0;
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
        let out = s3
            .put_object()
            .bucket(bucket)
            .key(spec_key(id))
            .body(ByteStream::from(text.clone().into_bytes()))
            .content_type("application/yaml")
            .send()
            .await
            .map_err(fail("S3 PutObject"))?;
        record(store, spec, &text, out.version_id).await?;
    }
    Ok(ours.into_iter().collect())
}

/// Stores a valid spec's version and makes it the DAG's current one.
async fn record(
    store: &dyn StateStore,
    spec: &DagSpec,
    text: &str,
    object_version: Option<String>,
) -> PortResult<()> {
    let dag = spec.id.as_str();
    store
        .put_spec_version(dag, &spec.version, text, chrono::Utc::now())
        .await?;
    let mut meta = store
        .dag(dag)
        .await?
        .unwrap_or_else(|| DagMeta::new(spec.id.clone()));
    meta.current_version = Some(spec.version.clone());
    meta.source_version = object_version;
    meta.import_error = None;
    store.put_dag(&meta).await
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

/// A spec object was deleted: if it is really gone (not uploaded again
/// since, whatever order the events come in), its DAG is no longer
/// scheduled, as when its file leaves a local spec directory.
pub async fn sync_removed(
    s3: &Client,
    bucket: &str,
    store: &dyn StateStore,
    key: &str,
) -> PortResult<Synced> {
    let Some(stem) = dag_of(key) else {
        return Ok(Synced::Ignored);
    };
    let head = s3.head_object().bucket(bucket).key(key).send().await;
    match head {
        Ok(_) => return Ok(Synced::Ignored),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(e) => return Err(fail("S3 HeadObject")(e)),
    }
    let Some(mut meta) = store.dag(stem).await? else {
        return Ok(Synced::Ignored);
    };
    if meta.current_version.is_none() && meta.import_error.is_none() {
        return Ok(Synced::Ignored);
    }
    meta.current_version = None;
    meta.import_error = None;
    meta.source_version = None;
    store.put_dag(&meta).await?;
    Ok(Synced::Removed {
        dag: stem.to_string(),
    })
}

/// The DAG a key under `specs/` is named after.
fn dag_of(key: &str) -> Option<&str> {
    let stem = key.strip_prefix(PREFIX)?.strip_suffix(".yaml")?;
    DagId::parse(stem).ok().map(|_| stem)
}

/// Reads an uploaded spec object (a version of it) and records it: its
/// spec version, or an import error on the DAG it is named after.
pub async fn sync_object(
    s3: &Client,
    bucket: &str,
    store: &dyn StateStore,
    key: &str,
    version_id: Option<&str>,
) -> PortResult<Synced> {
    let Some(stem) = dag_of(key) else {
        return Ok(Synced::Ignored);
    };
    let dag_id = DagId::parse(stem).map_err(PortError)?;
    let mut meta = store
        .dag(stem)
        .await?
        .unwrap_or_else(|| DagMeta::new(dag_id.clone()));
    let (text, object_version) = get_text(s3, bucket, key, version_id).await?;
    if object_version.is_some()
        && meta.source_version == object_version
        && meta.import_error.is_none()
    {
        return Ok(Synced::Ignored);
    }
    let file = format!("s3://{bucket}/{key}");
    let problems = match parse_spec(&file, &text) {
        Ok(spec) if spec.id == dag_id => {
            record(store, &spec, &text, object_version).await?;
            return Ok(Synced::Current {
                dag: stem.to_string(),
                version: spec.version,
            });
        }
        Ok(spec) => vec![format!(
            "{file}:1:1: the file declares DAG `{}`; name it {}",
            spec.id,
            spec_key(spec.id.as_str())
        )],
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    };
    meta.import_error = Some(problems.join("\n"));
    meta.source_version = object_version;
    store.put_dag(&meta).await?;
    Ok(Synced::ImportError {
        dag: stem.to_string(),
        errors: problems,
    })
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

async fn get_text(
    s3: &Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> PortResult<(String, Option<String>)> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await
        .map_err(fail("S3 GetObject"))?;
    let version = out.version_id.clone();
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| PortError::new("reading an S3 object", e))?
        .into_bytes();
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| PortError(format!("s3://{bucket}/{key} is not UTF-8 text")))?;
    Ok((text, version))
}
