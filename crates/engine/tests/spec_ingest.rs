//! Spec ingest over the in-memory store and a versioned file store in
//! memory: deploys, upload and deletion events in any order, and files
//! that are wrong.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use updraft_core::spec::SpecFile;
use updraft_engine::memory::{ManualClock, MemoryStore};
use updraft_engine::ports::{DagStore, PortResult, SpecFileText, SpecFiles};
use updraft_engine::usecase::{Deployment, SpecIngest, Synced, spec_key};

/// Each key's versions, oldest first; a deletion is `None`.
#[derive(Default)]
struct VersionedFiles(Mutex<HashMap<String, Vec<Option<String>>>>);

impl VersionedFiles {
    fn versions(&self, key: &str) -> Vec<Option<String>> {
        self.0.lock().unwrap().get(key).cloned().unwrap_or_default()
    }

    fn delete(&self, key: &str) {
        self.0
            .lock()
            .unwrap()
            .entry(key.into())
            .or_default()
            .push(None);
    }
}

#[async_trait]
impl SpecFiles for VersionedFiles {
    async fn keys(&self) -> PortResult<Vec<String>> {
        let files = self.0.lock().unwrap();
        Ok(files
            .iter()
            .filter(|(_, versions)| versions.last().is_some_and(Option::is_some))
            .map(|(key, _)| key.clone())
            .collect())
    }

    async fn latest(&self, key: &str) -> PortResult<Option<SpecFileText>> {
        let versions = self.versions(key);
        Ok(versions.last().cloned().flatten().map(|text| SpecFileText {
            bytes: text.into_bytes(),
            version: Some(format!("v{}", versions.len())),
        }))
    }

    async fn newer(&self, _key: &str, a: &str, b: &str) -> PortResult<bool> {
        let number = |v: &str| v[1..].parse::<usize>().unwrap();
        Ok(number(a) > number(b))
    }

    async fn put(&self, key: &str, text: &str) -> PortResult<()> {
        self.0
            .lock()
            .unwrap()
            .entry(key.into())
            .or_default()
            .push(Some(text.into()));
        Ok(())
    }

    fn location(&self, key: &str) -> String {
        format!("mem://{key}")
    }
}

const ETL: &str = "dag: etl\nschedule: none\ntasks:\n  - id: a\n    command: [x]\n";
const ETL_2: &str = "dag: etl\nschedule: none\ntasks:\n  - id: b\n    command: [y]\n";

fn file(name: &str, text: &str) -> SpecFile {
    SpecFile {
        name: name.into(),
        text: text.into(),
    }
}

struct Setup {
    store: MemoryStore,
    files: VersionedFiles,
    clock: ManualClock,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            store: MemoryStore::default(),
            files: VersionedFiles::default(),
            clock: ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()),
        }
    }

    fn ingest(&self) -> SpecIngest<'_> {
        SpecIngest {
            store: &self.store,
            files: &self.files,
            clock: &self.clock,
        }
    }
}

#[tokio::test]
async fn a_deploy_stores_the_version_first_seen_by_the_engines_clock() {
    let setup = Setup::new();
    let deployed = setup
        .ingest()
        .deploy(&[file("etl.yaml", ETL)])
        .await
        .unwrap();
    assert_eq!(deployed, Deployment::Deployed(vec!["etl".into()]));
    let meta = setup.store.dag("etl").await.unwrap().unwrap();
    let version = meta.current_version.expect("a current version");
    assert_eq!(meta.source_version.as_deref(), Some("v1"));
    let stored = setup.store.spec_versions("etl").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].version, version);
    assert_eq!(
        stored[0].first_seen,
        Some(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap())
    );
}

#[tokio::test]
async fn a_late_event_of_an_older_upload_rolls_nothing_back_and_a_deletion_unschedules() {
    let setup = Setup::new();
    let ingest = setup.ingest();
    ingest.deploy(&[file("etl.yaml", ETL)]).await.unwrap();
    ingest.deploy(&[file("etl.yaml", ETL_2)]).await.unwrap();
    let current = setup.store.dag("etl").await.unwrap().unwrap();
    // The first upload's event arrives now: the file is read as it is.
    assert_eq!(
        ingest.sync(&spec_key("etl")).await.unwrap(),
        Synced::Ignored
    );
    assert_eq!(setup.store.dag("etl").await.unwrap().unwrap(), current);
    setup.files.delete(&spec_key("etl"));
    assert_eq!(
        ingest.sync(&spec_key("etl")).await.unwrap(),
        Synced::Removed { dag: "etl".into() }
    );
    let removed = setup.store.dag("etl").await.unwrap().unwrap();
    assert_eq!(removed.current_version, None);
    assert_eq!(
        setup.store.spec_versions("etl").await.unwrap().len(),
        2,
        "its versions stay for the runs pinned to them"
    );
}

#[tokio::test]
async fn a_file_that_is_wrong_is_its_dags_import_error_and_a_clash_deploys_nothing() {
    let setup = Setup::new();
    let ingest = setup.ingest();
    setup
        .files
        .put(
            &spec_key("etl"),
            "dag: other\ntasks:\n  - id: a\n    command: [x]\n",
        )
        .await
        .unwrap();
    let Synced::ImportError { dag, errors } = ingest.sync(&spec_key("etl")).await.unwrap() else {
        panic!("an import error");
    };
    assert_eq!(dag, "etl");
    assert!(
        errors[0].starts_with("mem://specs/etl.yaml:1:1: the file declares DAG `other`"),
        "{errors:?}"
    );
    let clash = ingest
        .deploy(&[file(
            "other.yaml",
            "dag: other\ntasks:\n  - id: a\n    command: [x]\n",
        )])
        .await
        .unwrap();
    let Deployment::Rejected(problems) = clash else {
        panic!("a clash is refused");
    };
    assert!(problems[0].contains("already declared by mem://specs/etl.yaml"));
    assert!(
        setup.files.versions(&spec_key("other")).is_empty(),
        "nothing written"
    );
}

#[tokio::test]
async fn a_deploy_keeps_the_dags_retention_and_one_that_does_not_load_leaves_it() {
    let setup = Setup::new();
    let kept = ETL.replacen("tasks:", "retention: 30d\ntasks:", 1);
    setup
        .ingest()
        .deploy(&[file("etl.yaml", &kept)])
        .await
        .unwrap();
    let meta = setup.store.dag("etl").await.unwrap().unwrap();
    assert_eq!(meta.retention_secs, Some(30 * 86_400));
    setup
        .ingest()
        .deploy(&[file("etl.yaml", ETL)])
        .await
        .unwrap();
    let meta = setup.store.dag("etl").await.unwrap().unwrap();
    assert_eq!(meta.retention_secs, None, "the store's own then");
}
