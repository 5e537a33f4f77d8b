//! Issue 26: a holder of the operator policy changes runs, never what they
//! run. It may write any item of the table, so no item is trusted to say
//! what runs: sources come from the bucket, which it may not write.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_dynamodb::types::AttributeValue;
use updraft_aws::clients::Clients;
use updraft_aws::keys;
use updraft_aws::specs::deploy;
use updraft_aws::testing::{Ending, Player, PolicyLimit, deployment, sdk, template_actions};
use updraft_core::spec::{SpecFile, parse_spec};
use updraft_core::state::{RunState, TaskState};
use updraft_engine::usecase::RunRequest;

const ETL: &str = "dag: etl\ntasks:\n  - id: load\n    command: [echo, deployed]\n";
const FORGED: &str = "dag: etl\ntasks:\n  - id: load\n    command: [sh, -c, 'id > /tmp/owned']\n";

fn key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_string(), AttributeValue::S(pk)),
        (keys::SK.to_string(), AttributeValue::S(sk)),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_policy_cannot_change_what_runs() {
    let owner = Clients::new(&sdk());
    let settings = deployment(&owner).await;
    let engine = Arc::new(settings.engine_over(&owner));
    let etl = SpecFile {
        name: "etl.yaml".into(),
        text: ETL.into(),
    };
    let store = engine.ports().store.clone();
    deploy(&owner.s3, &settings.bucket, store.as_ref(), &[etl])
        .await
        .unwrap();
    let deployed = store.dag("etl").await.unwrap().unwrap();
    let deployed = deployed.current_version.unwrap();

    // Clients that may do what the two dashboard policies allow.
    let allowed = template_actions("DashboardReadOnlyPolicy")
        .union(&template_actions("DashboardOperatorPolicy"))
        .cloned()
        .collect();
    let operator =
        Clients::with_interceptors(&sdk(), &[SharedInterceptor::new(PolicyLimit(allowed))]);
    let as_operator = settings.engine_over(&operator);
    let honest = as_operator
        .trigger("etl", RunRequest::by("ana"))
        .await
        .unwrap();
    let repinned = as_operator
        .trigger("etl", RunRequest::by("ana"))
        .await
        .unwrap();

    // The table is the operator's to write: the deployed version's source,
    // a forged version whose source hashes to its name, a run pinned to
    // it, the DAG's current version.
    let forged = parse_spec("etl.yaml", FORGED).unwrap().version;
    let table = &settings.table;
    for version in [&deployed, &forged] {
        operator
            .dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(key(keys::dag_pk("etl"), keys::spec_sk(version))))
            .item("item_type", AttributeValue::S("spec".into()))
            .item("source", AttributeValue::S(FORGED.into()))
            .send()
            .await
            .expect("the operator policy may write any item");
    }
    for (pk, sk, field) in [
        (
            keys::dag_pk("etl"),
            keys::run_sk(&repinned.run_id),
            "spec_version",
        ),
        (keys::DAGS.to_string(), "etl".to_string(), "current_version"),
    ] {
        operator
            .dynamodb
            .update_item()
            .table_name(table)
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #f = :v")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":v", AttributeValue::S(forged.clone()))
            .send()
            .await
            .expect("the operator policy may update any item");
    }
    // The bucket, where sources come from, is not.
    for key in [
        format!("spec-versions/etl/{forged}.yaml"),
        format!("spec-versions/etl/{deployed}.yaml"),
        "specs/etl.yaml".to_string(),
    ] {
        let refused = operator
            .s3
            .put_object()
            .bucket(&settings.bucket)
            .key(&key)
            .body(FORGED.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap_err();
        let refused = format!("{refused:?}");
        assert!(refused.contains("AccessDenied"), "{key}: {refused}");
    }

    // The stack goes on: ticks, dispatches, records.
    let mut player = Player::new(&settings);
    let (mut failures, mut import_errors) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let report = engine.tick().await.unwrap();
        failures.extend(report.failures);
        import_errors.extend(report.import_errors);
        player
            .run_until_idle(engine.as_ref(), 10, |_| Ending::default())
            .await;
    }
    assert!(!player.ended.is_empty(), "the honest run ran");
    for started in &player.ended {
        assert_eq!(
            started.command,
            ["echo", "deployed"],
            "only the deployed command ran"
        );
        assert_ne!(started.run_id, repinned.run_id);
    }
    let honest = engine.run_detail("etl", &honest.run_id).await.unwrap();
    assert_eq!(honest.run.state, RunState::Succeeded);
    let instances = store.instances("etl", &repinned.run_id).await.unwrap();
    assert!(
        instances
            .iter()
            .all(|i| !matches!(i.state, TaskState::Running | TaskState::Succeeded)),
        "{instances:?}"
    );
    let repinned = store.run("etl", &repinned.run_id).await.unwrap().unwrap();
    assert_eq!(repinned.state, RunState::Failed, "{failures:?}");
    assert_eq!(
        repinned.reason.as_deref(),
        Some(format!("spec version {forged} of DAG `etl` is not a deployed version").as_str())
    );
    assert!(
        import_errors
            .iter()
            .any(|e| e.to_string().contains(&forged)),
        "the DAG pointed at the forged version is an import error: {import_errors:?}"
    );
}
