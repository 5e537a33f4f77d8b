//! Lineage: which tries produced and consumed which artifacts.

use async_trait::async_trait;
use updraft_core::state::ArtifactRecord;

use crate::ports::PortResult;

/// Which tries produced and consumed each artifact, by URI and by run.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Records that tries produced or consumed artifacts; recording the
    /// same record twice keeps one.
    async fn put_artifacts(&self, records: &[ArtifactRecord]) -> PortResult<()>;

    /// Every record of one artifact, newest first.
    async fn artifact(&self, uri: &str) -> PortResult<Vec<ArtifactRecord>>;

    /// Every artifact record of one run.
    async fn run_artifacts(&self, dag: &str, run_id: &str) -> PortResult<Vec<ArtifactRecord>>;
}
