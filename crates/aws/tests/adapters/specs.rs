//! Specs on AWS: deploy validates and uploads, refuses a DAG another file
//! in the bucket declares; upload notifications record a new version or an
//! import error; the tick's spec source reads only the table.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use updraft_aws::dynamo::DynamoStore;
use updraft_aws::schema::{create_bucket, create_table};
use updraft_aws::spec_objects::SpecObjects;
use updraft_aws::specs::{DeployError, Synced, TableSpecs, deploy, spec_key, sync_key};
use updraft_core::ids::DagId;
use updraft_core::spec::SpecFile;
use updraft_engine::ports::{DagChange, SpecSource, StateStore};

use updraft_aws::testing as support;

const ETL: &str = "dag: etl\nschedule: '@daily'\ntasks:\n  - id: load\n    command: [echo]\n";
const ML: &str = "dag: ml\ntasks:\n  - id: train\n    command: [echo]\n";

async fn world() -> (aws_sdk_s3::Client, String, Arc<dyn StateStore>) {
    let s3 = support::s3();
    let bucket = support::unique("specs");
    create_bucket(&s3, &bucket).await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&support::sdk());
    let table = support::unique("state");
    create_table(&dynamo, &table).await.unwrap();
    let store = DynamoStore::new(dynamo, table)
        .with_spec_objects(SpecObjects::new(s3.clone(), bucket.clone()));
    (s3, bucket, Arc::new(store))
}

fn file(name: &str, text: &str) -> SpecFile {
    SpecFile {
        name: name.into(),
        text: text.into(),
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, text: &str) -> Option<String> {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(text.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
    out.version_id
}

#[tokio::test]
async fn deploy_uploads_and_the_table_serves_the_specs() {
    let (s3, bucket, store) = world().await;
    let deployed = deploy(
        &s3,
        &bucket,
        store.as_ref(),
        &[file("etl.yaml", ETL), file("ml.yaml", ML)],
    )
    .await
    .unwrap();
    assert_eq!(deployed, ["etl", "ml"]);
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(spec_key("etl"))
        .send()
        .await
        .unwrap();
    assert!(object.version_id.is_some(), "the bucket is versioned");
    let meta = store.dag("etl").await.unwrap().unwrap();
    assert_eq!(meta.source_version, object.version_id);

    // The tick's source has no S3 client: it reads the table alone.
    let loaded = TableSpecs::new(store.clone()).load().await.unwrap();
    let mut ids: Vec<String> = loaded.dags.iter().map(|(s, _)| s.id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["etl", "ml"]);
    assert_eq!(
        loaded
            .dags
            .iter()
            .find(|(s, _)| s.id.as_str() == "etl")
            .unwrap()
            .0
            .version,
        meta.current_version.unwrap()
    );
}

#[tokio::test]
async fn deploy_refuses_invalid_specs_and_ids_declared_by_other_files() {
    let (s3, bucket, store) = world().await;
    let Err(DeployError::Rejected(errors)) = deploy(
        &s3,
        &bucket,
        store.as_ref(),
        &[file(
            "bad.yaml",
            "dag: bad\ntasks:\n  - id: a\n    after: [b]\n",
        )],
    )
    .await
    else {
        panic!("an invalid spec is rejected");
    };
    assert_eq!(errors, ["bad.yaml:4:13: `after` names unknown task `b`"]);
    put(&s3, &bucket, "specs/old-name.yaml", ETL).await;
    let Err(DeployError::Rejected(errors)) =
        deploy(&s3, &bucket, store.as_ref(), &[file("etl.yaml", ETL)]).await
    else {
        panic!("a clash is rejected");
    };
    assert_eq!(
        errors,
        [format!(
            "DAG `etl` is already declared by s3://{bucket}/specs/old-name.yaml; remove or rename that file first"
        )]
    );
    assert!(
        store.dag("etl").await.unwrap().is_none(),
        "nothing was recorded"
    );
}

#[tokio::test]
async fn an_uploaded_file_becomes_current_or_an_import_error() {
    let (s3, bucket, store) = world().await;
    let source = TableSpecs::new(store.clone());
    put(&s3, &bucket, "specs/etl.yaml", ETL).await;
    let synced = sync_key(&s3, &bucket, store.as_ref(), "specs/etl.yaml")
        .await
        .unwrap();
    assert!(
        matches!(synced, Synced::Current { ref dag, .. } if dag == "etl"),
        "{synced:?}"
    );
    assert_eq!(
        sync_key(&s3, &bucket, store.as_ref(), "specs/etl.yaml")
            .await
            .unwrap(),
        Synced::Ignored,
        "the same version twice"
    );

    put(
        &s3,
        &bucket,
        "specs/etl.yaml",
        "dag: etl\nschedule: '61 * * * *'\ntasks:\n  - id: load\n",
    )
    .await;
    let synced = sync_key(&s3, &bucket, store.as_ref(), "specs/etl.yaml")
        .await
        .unwrap();
    let expected = format!(
        "s3://{bucket}/specs/etl.yaml:2:11: cron `61 * * * *`: minute field `61`: 61 is outside 0-59"
    );
    assert_eq!(
        synced,
        Synced::ImportError {
            dag: "etl".into(),
            errors: vec![expected.clone()]
        }
    );
    let loaded = source.load().await.unwrap();
    assert!(
        loaded.dags.is_empty(),
        "a DAG with an import error is skipped"
    );
    assert_eq!(loaded.errors[0].message, expected);
    let warned = source.import_errors().await.unwrap();
    assert_eq!(
        warned, loaded.errors,
        "what `runs` warns of, from the metadata alone"
    );

    put(&s3, &bucket, "specs/etl.yaml", ETL).await;
    sync_key(&s3, &bucket, store.as_ref(), "specs/etl.yaml")
        .await
        .unwrap();
    assert_eq!(source.load().await.unwrap().dags.len(), 1);
    assert_eq!(
        sync_key(&s3, &bucket, store.as_ref(), "notes/readme.txt")
            .await
            .unwrap(),
        Synced::Ignored
    );
}

/// Makes `version` a DAG's current spec version, whatever it is.
async fn set_current(store: &Arc<dyn StateStore>, dag: &DagId, version: &str) {
    let change = DagChange::Source {
        current_version: Some(version.into()),
        import_error: None,
        source_version: None,
        expect: None,
        retention_secs: None,
    };
    assert!(store.update_dag(dag, &change).await.unwrap());
}

/// A version item whose source is not the version it is stored as (an
/// item written by hand, not by a deploy) is never loaded: its DAG shows
/// an import error instead of running what the item says.
#[tokio::test]
async fn a_stored_spec_whose_source_is_not_its_version_is_refused() {
    let (s3, bucket, store) = world().await;
    deploy(&s3, &bucket, store.as_ref(), &[file("etl.yaml", ETL)])
        .await
        .unwrap();
    let etl = store.dag("etl").await.unwrap().unwrap();
    let forged = ETL.replace("tasks:", "description: forged\ntasks:");
    assert_ne!(forged, ETL);
    store
        .put_spec_version("etl", "f0f0", &forged, chrono::Utc::now())
        .await
        .unwrap();
    set_current(&store, &etl.dag, "f0f0").await;
    let loaded = TableSpecs::new(store.clone()).load().await.unwrap();
    assert!(
        loaded.dags.is_empty(),
        "nothing loaded from the forged item"
    );
    let error = loaded.errors[0].to_string();
    assert!(
        error.contains("stored spec version f0f0 does not match its source"),
        "{error}"
    );
}

/// Issue 26: an uploaded file that is not UTF-8 is its DAG's import error,
/// at its first bad byte; the others load.
#[tokio::test]
async fn an_uploaded_file_that_is_not_utf8_is_its_dags_import_error() {
    let (s3, bucket, store) = world().await;
    put(&s3, &bucket, "specs/ml.yaml", ML).await;
    sync_key(&s3, &bucket, store.as_ref(), "specs/ml.yaml")
        .await
        .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("specs/etl.yaml")
        .body(ByteStream::from(b"dag: etl\ntasks: \xff\n".to_vec()))
        .send()
        .await
        .unwrap();
    let synced = sync_key(&s3, &bucket, store.as_ref(), "specs/etl.yaml")
        .await
        .unwrap();
    assert_eq!(
        synced,
        Synced::ImportError {
            dag: "etl".into(),
            errors: vec![format!(
                "s3://{bucket}/specs/etl.yaml:2:8: the file is not UTF-8 text; save it as UTF-8"
            )]
        }
    );
    let loaded = TableSpecs::new(store.clone()).load().await.unwrap();
    let ids: Vec<&str> = loaded.dags.iter().map(|(s, _)| s.id.as_str()).collect();
    assert_eq!(ids, ["ml"]);
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
}

/// Issue 11, isolation: a DAG whose current stored version no longer
/// parses, or is missing, is that DAG's import error; the others load.
#[tokio::test]
async fn a_stored_spec_that_no_longer_parses_is_its_dags_error_alone() {
    let (s3, bucket, store) = world().await;
    deploy(
        &s3,
        &bucket,
        store.as_ref(),
        &[file("etl.yaml", ETL), file("ml.yaml", ML)],
    )
    .await
    .unwrap();
    let etl = store.dag("etl").await.unwrap().unwrap();
    store
        .put_spec_version(
            "etl",
            "broken",
            "dag: etl\ntasks: nope\n",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    set_current(&store, &etl.dag, "broken").await;
    let ml = store.dag("ml").await.unwrap().unwrap();
    let ml_version = ml.current_version.clone();
    let loaded = TableSpecs::new(store.clone()).load().await.unwrap();
    let ids: Vec<&str> = loaded.dags.iter().map(|(s, _)| s.id.as_str()).collect();
    assert_eq!(ids, ["ml"]);
    assert_eq!(loaded.errors.len(), 1);
    let error = loaded.errors[0].to_string();
    assert!(
        error.starts_with("specs/etl.yaml:1:1: stored spec version broken no longer parses: "),
        "{error}"
    );

    set_current(&store, &ml.dag, "gone").await;
    let loaded = TableSpecs::new(store.clone()).load().await.unwrap();
    assert!(loaded.dags.is_empty());
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.ends_with("spec version gone of DAG `ml` is missing from the table")),
        "{errors:?} (ml was {ml_version:?})"
    );
}

/// Issue 11: a late or replayed upload event, and an older sync that
/// lost a race with a newer one, never roll a DAG back to an older spec.
#[tokio::test]
async fn a_late_or_replayed_upload_never_rolls_a_dag_back() {
    let (s3, bucket, store) = world().await;
    let key = "specs/etl.yaml";
    let first = put(&s3, &bucket, key, ETL)
        .await
        .expect("a versioned bucket");
    sync_key(&s3, &bucket, store.as_ref(), key).await.unwrap();
    let v1 = store.dag("etl").await.unwrap().unwrap().current_version;
    let edited = ETL.replace("@daily", "@hourly");
    let second = put(&s3, &bucket, key, &edited).await.unwrap();
    sync_key(&s3, &bucket, store.as_ref(), key).await.unwrap();
    let meta = store.dag("etl").await.unwrap().unwrap();
    assert_ne!(meta.current_version, v1);
    assert_eq!(meta.source_version.as_deref(), Some(second.as_str()));

    // The first upload's event, late or replayed: what the file is now
    // stays current.
    assert_eq!(
        sync_key(&s3, &bucket, store.as_ref(), key).await.unwrap(),
        Synced::Ignored
    );
    // A sync that read the first version, losing the race to the second's
    // sync, does not write it: its compare-and-set expects what it read,
    // and once it reads again the stored version is newer.
    let stale = DagChange::Source {
        current_version: v1.clone(),
        import_error: None,
        source_version: Some(first.clone()),
        expect: Some(None),
        retention_secs: None,
    };
    let etl = DagId::parse("etl").unwrap();
    assert!(!store.update_dag(&etl, &stale).await.unwrap());
    let after = store.dag("etl").await.unwrap().unwrap();
    assert_eq!(after, meta, "still the second version");

    // A pause meanwhile is not undone by a sync (only the source fields
    // are written).
    store
        .update_dag(&etl, &DagChange::Paused(true))
        .await
        .unwrap();
    put(&s3, &bucket, key, ETL).await;
    sync_key(&s3, &bucket, store.as_ref(), key).await.unwrap();
    let synced = store.dag("etl").await.unwrap().unwrap();
    assert!(synced.paused, "the pause stays");
    assert_eq!(synced.current_version, v1, "the third upload is current");
}

/// Every spec version's source is kept in the bucket, large or small, and
/// read only from there: the item records the version, and editing its
/// source (as a holder of the operator policy may) changes nothing that
/// is read.
#[tokio::test]
async fn spec_sources_are_kept_and_read_in_the_bucket_not_the_table() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use updraft_aws::spec_objects::object_key;
    let s3 = support::s3();
    let bucket = support::unique("specs");
    create_bucket(&s3, &bucket).await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&support::sdk());
    let table = support::unique("state");
    create_table(&dynamo, &table).await.unwrap();
    let store: Arc<dyn StateStore> = Arc::new(
        DynamoStore::new(dynamo.clone(), table.clone())
            .with_spec_objects(SpecObjects::new(s3.clone(), bucket.clone())),
    );
    let large = format!("{ML}{}", "# a long comment line\n".repeat(20_000));
    assert!(large.len() > 400 * 1024, "more than a DynamoDB item holds");
    deploy(
        &s3,
        &bucket,
        store.as_ref(),
        &[file("ml.yaml", &large), file("etl.yaml", ETL)],
    )
    .await
    .unwrap();
    let ml = store
        .dag("ml")
        .await
        .unwrap()
        .unwrap()
        .current_version
        .unwrap();
    let etl = store
        .dag("etl")
        .await
        .unwrap()
        .unwrap()
        .current_version
        .unwrap();
    for (dag, version, text) in [("ml", &ml, &large), ("etl", &etl, &ETL.to_string())] {
        let object = s3
            .get_object()
            .bucket(&bucket)
            .key(object_key(dag, version))
            .send()
            .await
            .unwrap();
        assert_eq!(object.content_length(), Some(text.len() as i64));
        assert_eq!(
            store.spec_version(dag, version).await.unwrap().as_ref(),
            Some(text)
        );
    }

    let key = |version: &str| {
        std::collections::HashMap::from([
            ("PK".to_string(), AttributeValue::S("DAG#etl".into())),
            (
                "SK".to_string(),
                AttributeValue::S(format!("SPEC#{version}")),
            ),
        ])
    };
    dynamo
        .update_item()
        .table_name(&table)
        .set_key(Some(key(&etl)))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "source")
        .expression_attribute_values(
            ":s",
            AttributeValue::S(ETL.replace("echo", "rm -rf /; echo")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        store.spec_version("etl", &etl).await.unwrap().as_deref(),
        Some(ETL),
        "the item's edited source is never read"
    );
    let loaded = TableSpecs::new(store.clone()).load().await.unwrap();
    assert_eq!(loaded.errors, []);
    let mut sources: Vec<&str> = loaded.dags.iter().map(|(_, text)| text.as_str()).collect();
    sources.sort();
    assert_eq!(sources, [ETL, large.as_str()]);
}
