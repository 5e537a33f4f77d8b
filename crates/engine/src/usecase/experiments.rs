//! Runs as experiments: a DAG's stored spec versions and how many runs used
//! each, the difference between two versions, and runs side by side.

use chrono::{DateTime, Utc};
use updraft_core::spec::{SpecDiff, spec_diff};
use updraft_core::state::ArtifactUse;

use super::RunDetail;
use crate::ports::RunQuery;
use crate::{Engine, EngineError, EngineResult};

/// A stored spec version and its use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionUse {
    /// The version.
    pub version: String,
    /// When it was first stored, if known.
    pub first_seen: Option<DateTime<Utc>>,
    /// How many runs are pinned to it.
    pub runs: usize,
    /// Whether it is the DAG's current version.
    pub current: bool,
}

/// One run of a comparison.
#[derive(Clone, Debug)]
pub struct ComparedRun {
    /// Everything `show` shows.
    pub detail: RunDetail,
    /// The artifact URIs it produced.
    pub produced: Vec<String>,
}

/// Runs side by side, and how each run's spec differs from the first's.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The runs, in the order asked.
    pub runs: Vec<ComparedRun>,
    /// For each run, the difference from the first run's spec version to
    /// its own (empty for the first).
    pub spec_diffs: Vec<SpecDiff>,
}

impl Engine {
    /// A DAG's stored spec versions, newest first, with how many runs
    /// used each.
    pub async fn versions(&self, dag: &str) -> EngineResult<Vec<VersionUse>> {
        let store = &self.ports.store;
        let stored = store.spec_versions(dag).await?;
        if stored.is_empty() {
            return Err(EngineError::not_found(format!(
                "DAG `{dag}` has no stored spec versions"
            )));
        }
        let current = store.dag(dag).await?.and_then(|m| m.current_version);
        let runs = store
            .runs(&RunQuery {
                dag: Some(dag.to_string()),
                ..RunQuery::default()
            })
            .await?;
        let mut versions: Vec<VersionUse> = stored
            .into_iter()
            .map(|v| VersionUse {
                runs: runs.iter().filter(|r| r.spec_version == v.version).count(),
                current: current.as_deref() == Some(v.version.as_str()),
                version: v.version,
                first_seen: v.first_seen,
            })
            .collect();
        versions.sort_by(|a, b| (b.first_seen, &b.version).cmp(&(a.first_seen, &a.version)));
        Ok(versions)
    }

    /// The full version a prefix names among a DAG's stored versions.
    pub async fn resolve_version(&self, dag: &str, prefix: &str) -> EngineResult<String> {
        let stored = self.ports.store.spec_versions(dag).await?;
        let matching: Vec<&str> = stored
            .iter()
            .map(|v| v.version.as_str())
            .filter(|v| !prefix.is_empty() && v.starts_with(prefix))
            .collect();
        match matching[..] {
            [one] => Ok(one.to_string()),
            [] => Err(EngineError::not_found(format!(
                "DAG `{dag}` has no stored spec version starting `{prefix}`"
            ))),
            _ => Err(EngineError::invalid(
                "version",
                format!(
                    "`{prefix}` names {} spec versions of `{dag}`; give more of it",
                    matching.len()
                ),
            )),
        }
    }

    /// The difference from version `a` to version `b` (prefixes accepted):
    /// the full versions and the difference.
    pub async fn version_diff(
        &self,
        dag: &str,
        a: &str,
        b: &str,
    ) -> EngineResult<(String, String, SpecDiff)> {
        let (a, b) = (
            self.resolve_version(dag, a).await?,
            self.resolve_version(dag, b).await?,
        );
        let diff = self.diff_of(dag, &a, &b).await?;
        Ok((a, b, diff))
    }

    async fn diff_of(&self, dag: &str, a: &str, b: &str) -> EngineResult<SpecDiff> {
        if a == b {
            return Ok(SpecDiff::default());
        }
        let source = |version: &str| {
            let version = version.to_string();
            async move {
                self.ports
                    .store
                    .spec_version(dag, &version)
                    .await?
                    .ok_or_else(|| {
                        EngineError::internal(format!(
                            "spec version {version} of DAG `{dag}` is not a deployed version"
                        ))
                    })
            }
        };
        spec_diff(&source(a).await?, &source(b).await?).map_err(EngineError::internal)
    }

    /// Two or more runs of a DAG side by side.
    pub async fn compare(&self, dag: &str, run_ids: &[String]) -> EngineResult<Comparison> {
        if run_ids.len() < 2 {
            return Err(EngineError::invalid(
                "runs",
                "compare needs two runs or more",
            ));
        }
        let mut runs = Vec::with_capacity(run_ids.len());
        for run_id in run_ids {
            let detail = self.run_detail(dag, run_id).await?;
            let produced = self
                .ports
                .store
                .run_artifacts(dag, run_id)
                .await?
                .into_iter()
                .filter(|r| r.used == ArtifactUse::Produced)
                .map(|r| r.uri)
                .collect();
            runs.push(ComparedRun { detail, produced });
        }
        let first = runs[0].detail.run.spec_version.clone();
        let mut spec_diffs = Vec::with_capacity(runs.len());
        for run in &runs {
            spec_diffs.push(
                self.diff_of(dag, &first, &run.detail.run.spec_version)
                    .await?,
            );
        }
        Ok(Comparison { runs, spec_diffs })
    }
}
