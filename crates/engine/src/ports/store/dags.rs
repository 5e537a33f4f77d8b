//! DAG metadata and spec versions: what a deploy, a pause and the
//! scheduler's progress write about each DAG.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use updraft_core::ids::DagId;

use crate::ports::PortResult;

/// Each DAG's metadata, changed field by field so that writers never undo
/// one another, and the spec versions its runs are pinned to.
#[async_trait]
pub trait DagStore: Send + Sync {
    /// One DAG's metadata.
    async fn dag(&self, dag: &str) -> PortResult<Option<DagMeta>>;

    /// Every DAG's metadata.
    async fn dags(&self) -> PortResult<Vec<DagMeta>>;

    /// Applies a change to a DAG's metadata in one write, creating the
    /// metadata if there is none; `false` if the change's condition did
    /// not hold.
    async fn update_dag(&self, dag: &DagId, change: &DagChange) -> PortResult<bool>;

    /// Keeps a spec version's source, first seen at `seen_at`; storing one
    /// twice is harmless and keeps the first time.
    async fn put_spec_version(
        &self,
        dag: &str,
        version: &str,
        source: &str,
        seen_at: DateTime<Utc>,
    ) -> PortResult<()>;

    /// The source of a stored spec version.
    async fn spec_version(&self, dag: &str, version: &str) -> PortResult<Option<String>>;

    /// Every stored version of a DAG's spec, in no particular order.
    async fn spec_versions(&self, dag: &str) -> PortResult<Vec<StoredVersion>>;
}

/// What the scheduler keeps per DAG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DagMeta {
    /// The DAG.
    pub dag: DagId,
    /// Paused DAGs get no scheduled runs.
    pub paused: bool,
    /// The version of the spec currently deployed.
    pub current_version: Option<String>,
    /// Why the current spec file could not be loaded, if it could not.
    pub import_error: Option<String>,
    /// The version of the spec file in its store (an S3 object version id),
    /// where the store keeps versions.
    #[serde(default)]
    pub source_version: Option<String>,
    /// The latest schedule point a run was created for.
    pub last_point: Option<DateTime<Utc>>,
    /// The spec's `retention`, in seconds, where it names one: what a store
    /// whose items expire by themselves stamps the items of its runs with.
    #[serde(default)]
    pub retention_secs: Option<u64>,
    /// The run of this DAG that ended last, noted by a store whose items
    /// expire by themselves (others leave it unset): the tick keeps it
    /// from expiring, since `depends_on_past` and catchup read it.
    #[serde(default)]
    pub last_ended_run: Option<String>,
    /// When that run ended, or was last kept.
    #[serde(default)]
    pub last_ended_at: Option<DateTime<Utc>>,
}

impl DagMeta {
    /// Metadata of a DAG seen for the first time.
    pub fn new(dag: DagId) -> DagMeta {
        DagMeta {
            dag,
            paused: false,
            current_version: None,
            import_error: None,
            source_version: None,
            last_point: None,
            retention_secs: None,
            last_ended_run: None,
            last_ended_at: None,
        }
    }
}

/// A change to some fields of a DAG's metadata, written without touching
/// the others, so that a tick, a deploy, an upload event and a pause never
/// undo one another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DagChange {
    /// Pause (`true`) or unpause the schedule.
    Paused(bool),
    /// The scheduler made the runs up to this point; kept only if it is
    /// later than the stored one.
    LastPoint(DateTime<Utc>),
    /// What the DAG's spec file now is.
    Source {
        /// Its valid version, or none (the file does not load, or is gone).
        current_version: Option<String>,
        /// Why it does not load.
        import_error: Option<String>,
        /// The file's object version, where the store keeps versions.
        source_version: Option<String>,
        /// Applied only if the stored object version is still this one
        /// (`Some(None)`: none stored): a compare-and-set. `None`: always.
        expect: Option<Option<String>>,
        /// The valid spec's `retention` in seconds (`Some(None)`: it names
        /// none); `None` leaves the stored one (a file that does not load).
        retention_secs: Option<Option<u64>>,
    },
}

impl DagChange {
    /// Applies the change to `meta` as a store must; `false` if its
    /// condition does not hold (and `meta` is left as it was).
    pub fn apply(&self, meta: &mut DagMeta) -> bool {
        match self {
            DagChange::Paused(paused) => meta.paused = *paused,
            DagChange::LastPoint(point) => {
                if meta.last_point.is_some_and(|last| last >= *point) {
                    return false;
                }
                meta.last_point = Some(*point);
            }
            DagChange::Source {
                current_version,
                import_error,
                source_version,
                expect,
                retention_secs,
            } => {
                if expect.as_ref().is_some_and(|e| *e != meta.source_version) {
                    return false;
                }
                meta.current_version = current_version.clone();
                meta.import_error = import_error.clone();
                meta.source_version = source_version.clone();
                if let Some(retention) = retention_secs {
                    meta.retention_secs = *retention;
                }
            }
        }
        true
    }
}

/// A stored spec version, without its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredVersion {
    /// The version (SHA-256 of the canonical spec).
    pub version: String,
    /// When it was first stored; unknown for versions stored before this
    /// was kept.
    pub first_seen: Option<DateTime<Utc>>,
}
