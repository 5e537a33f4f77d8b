//! Specs on AWS. They live as `specs/<dag>.yaml` in a versioned bucket
//! ([`S3SpecFiles`], what the engine's spec ingest reads and writes), but a
//! tick reads them from the state table ([`TableSpecs`]): each DAG's
//! metadata names its current spec version, whose text the table keeps. So
//! an idle tick makes no S3 request at all; S3 is read only when a spec is
//! uploaded — by `updraft deploy`, or when the bucket tells of an upload
//! made with plain `aws s3 cp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::sdk_error::fail;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use updraft_core::spec::{DagSpec, Diagnostic, SpecFile, parse_stored_spec};
use updraft_core::yaml::Pos;
use updraft_engine::ports::{
    DagMeta, LoadedSpecs, PortError, PortResult, SpecFileText, SpecFiles, SpecSource, StateStore,
    SystemClock,
};
use updraft_engine::usecase::{Deployment, SpecIngest};
pub use updraft_engine::usecase::{SPEC_PREFIX, Synced, spec_key};

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
                        Ok(Some(source)) => parse_stored_spec(&spec_key(&dag), &version, &source)
                            .map(|spec| (spec, source))
                            .map_err(|why| format!("stored spec version {version} {why}")),
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

/// The spec files in a stack's bucket, under `specs/` (versioned).
pub struct S3SpecFiles {
    s3: Client,
    bucket: String,
}

impl S3SpecFiles {
    /// The files of `bucket`.
    pub fn new(s3: Client, bucket: impl Into<String>) -> S3SpecFiles {
        S3SpecFiles {
            s3,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl SpecFiles for S3SpecFiles {
    async fn keys(&self) -> PortResult<Vec<String>> {
        list_specs(&self.s3, &self.bucket).await
    }

    async fn latest(&self, key: &str) -> PortResult<Option<SpecFileText>> {
        latest_text(&self.s3, &self.bucket, key).await
    }

    async fn newer(&self, key: &str, a: &str, b: &str) -> PortResult<bool> {
        newer(&self.s3, &self.bucket, key, a, b).await
    }

    async fn put(&self, key: &str, text: &str) -> PortResult<()> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(text.as_bytes().to_vec()))
            .content_type("application/yaml")
            .send()
            .await
            .map_err(fail("S3 PutObject"))?;
        Ok(())
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// [`Engine::deploy_specs`](updraft_engine::Engine::deploy_specs) over a
/// bucket and a store, for tools and tests without an engine. Returns the
/// DAG ids deployed.
pub async fn deploy(
    s3: &Client,
    bucket: &str,
    store: &dyn StateStore,
    files: &[SpecFile],
) -> Result<Vec<String>, DeployError> {
    let spec_files = S3SpecFiles::new(s3.clone(), bucket);
    let ingest = SpecIngest {
        store,
        files: &spec_files,
        clock: &SystemClock,
    };
    match ingest.deploy(files).await? {
        Deployment::Deployed(dags) => Ok(dags),
        Deployment::Rejected(problems) => Err(DeployError::Rejected(problems)),
    }
}

/// [`Engine::sync_spec_file`](updraft_engine::Engine::sync_spec_file) over
/// a bucket and a store, for tools and tests without an engine.
pub async fn sync_key(
    s3: &Client,
    bucket: &str,
    store: &dyn StateStore,
    key: &str,
) -> PortResult<Synced> {
    let spec_files = S3SpecFiles::new(s3.clone(), bucket);
    SpecIngest {
        store,
        files: &spec_files,
        clock: &SystemClock,
    }
    .sync(key)
    .await
}

/// The latest version of an object: its text and version id; `None` if it
/// is deleted.
async fn latest_text(s3: &Client, bucket: &str, key: &str) -> PortResult<Option<SpecFileText>> {
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(fail("S3 GetObject")(e)),
    };
    let version = out.version_id.clone();
    Ok(Some(SpecFileText {
        bytes: object_bytes(out.body).await?,
        version,
    }))
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
            .prefix(SPEC_PREFIX)
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

async fn object_bytes(body: ByteStream) -> PortResult<Vec<u8>> {
    let bytes = body
        .collect()
        .await
        .map_err(|e| PortError::new("reading an S3 object", e))?;
    Ok(bytes.to_vec())
}
