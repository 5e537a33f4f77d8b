//! Every crash point of every use case over the DynamoDB store on moto:
//! an SDK interceptor fails the N-th request (or lets it through and then
//! fails it, as a process dying right after sending it would), so each of
//! the store's real requests, transactions included, is a crash point.
//! A deploy's crash points are S3's and DynamoDB's requests alike.

use std::sync::Arc;

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use updraft_aws::dynamo::DynamoStore;
use updraft_aws::schema::create_table;
use updraft_aws::testing::OwnServer;
use updraft_engine::ports::{DagStore, StateStore};
use updraft_engine::testing::{Faults, UseCase, every_crash_point_of};

/// Puts every DynamoDB request through the crash-point switch.
#[derive(Debug)]
pub(crate) struct FaultInterceptor(pub(crate) Faults);

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map_or_else(|| "AWS".into(), |m| format!("{} {}", m.service(), m.name()))
}

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "FaultInterceptor"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(self.0.before(&operation(cfg))?)
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(self.0.after(&operation(cfg))?)
    }
}

/// Tries the crash points of `use_cases` over DynamoDB tables on a moto
/// server of the test's own: the two halves run side by side, each a
/// server's whole work.
async fn over_dynamodb(use_cases: &[UseCase]) {
    let server = OwnServer::start();
    let sdk = server.sdk();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let fresh = |faults: &Faults| {
        let table = updraft_aws::testing::unique("crash");
        let made = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(create_table(&client, &table))
        });
        made.unwrap();
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(SharedInterceptor::new(FaultInterceptor(faults.clone())))
            .build();
        let faulty = aws_sdk_dynamodb::Client::from_conf(config);
        (
            Arc::new(DynamoStore::new(client.clone(), table.clone())) as Arc<dyn StateStore>,
            Arc::new(DynamoStore::new(faulty, table)) as Arc<dyn StateStore>,
        )
    };
    every_crash_point_of(use_cases, &fresh).await.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_of_trigger_dispatch_record_and_cancel_over_dynamodb_leaves_nothing_lost_doubled_or_stranded()
 {
    over_dynamodb(&[
        UseCase::Trigger,
        UseCase::Dispatch,
        UseCase::Record,
        UseCase::Cancel,
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_of_tick_and_rerun_over_dynamodb_leaves_nothing_lost_doubled_or_stranded()
{
    over_dynamodb(&[UseCase::Tick, UseCase::Rerun]).await;
}

/// Deploy's crash points: a deploy of a second version fails at its N-th
/// request (S3 or DynamoDB), as an error or as the process dying right
/// after it. Then what AWS does anyway happens — the upload event of any
/// object the deploy wrote reaches the planner — and the bucket and the
/// table agree: the DAG's current version is the spec its file holds now,
/// readable, with no import error. The user's next deploy then succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_of_a_deploy_leaves_the_bucket_and_the_table_agreeing() {
    use updraft_aws::schema::create_bucket;
    use updraft_aws::specs::{deploy, spec_key, sync_key};
    use updraft_core::spec::{SpecFile, parse_spec};
    use updraft_engine::testing::Fault;

    const V1: &str = "dag: etl\ntasks:\n  - id: load\n    command: [echo, one]\n";
    const V2: &str = "dag: etl\ntasks:\n  - id: load\n    command: [echo, two]\n";
    let file = |text: &str| SpecFile {
        name: "etl.yaml".into(),
        text: text.into(),
    };
    let sdk = updraft_aws::testing::sdk();
    let faults = Faults::default();
    let interceptor = SharedInterceptor::new(FaultInterceptor(faults.clone()));
    let clean = updraft_aws::clients::Clients::new(&sdk);
    let faulty = updraft_aws::clients::Clients::with_interceptors(&sdk, &[interceptor]);
    let fresh = || async {
        let (table, bucket) = (
            updraft_aws::testing::unique("deploy"),
            updraft_aws::testing::unique("deploy"),
        );
        create_table(&clean.dynamodb, &table).await.unwrap();
        create_bucket(&clean.s3, &bucket).await.unwrap();
        let store = DynamoStore::new(clean.dynamodb.clone(), table.clone());
        deploy(&clean.s3, &bucket, &store, &[file(V1)])
            .await
            .unwrap();
        (table, bucket, store)
    };

    let (table, bucket, _) = fresh().await;
    faults.count();
    let store = DynamoStore::new(faulty.dynamodb.clone(), table);
    deploy(&faulty.s3, &bucket, &store, &[file(V2)])
        .await
        .unwrap();
    let (requests, _) = faults.disarm();
    assert!(requests >= 4, "{requests} requests");

    let mut tried = 0;
    for fault in [Fault::Error, Fault::Crash] {
        for n in 1..=requests {
            let (table, bucket, clean_store) = fresh().await;
            let store = DynamoStore::new(faulty.dynamodb.clone(), table);
            faults.arm(n, fault);
            let outcome = deploy(&faulty.s3, &bucket, &store, &[file(V2)]).await;
            let (_, hit) = faults.disarm();
            assert!(hit, "{fault:?} at request {n} of {requests}");
            assert!(
                outcome.is_err(),
                "{fault:?} at {n}: the deploy says it failed"
            );
            tried += 1;
            // S3's upload event, whether or not the deploy got to upload.
            sync_key(&clean.s3, &bucket, &clean_store, &spec_key("etl"))
                .await
                .unwrap();
            let object = clean
                .s3
                .get_object()
                .bucket(&bucket)
                .key(spec_key("etl"))
                .send()
                .await
                .unwrap();
            let text = object.body.collect().await.unwrap().into_bytes();
            let text = String::from_utf8(text.to_vec()).unwrap();
            let in_bucket = parse_spec("etl.yaml", &text).unwrap().version;
            let meta = clean_store.dag("etl").await.unwrap().unwrap();
            let at = format!("{fault:?} at request {n}");
            assert_eq!(meta.current_version.as_ref(), Some(&in_bucket), "{at}");
            assert_eq!(meta.import_error, None, "{at}");
            let stored = clean_store.spec_version("etl", &in_bucket).await.unwrap();
            assert_eq!(stored.as_deref(), Some(text.as_str()), "{at}");
            // And trying again succeeds.
            deploy(&clean.s3, &bucket, &clean_store, &[file(V2)])
                .await
                .unwrap();
            let meta = clean_store.dag("etl").await.unwrap().unwrap();
            let v2 = parse_spec("etl.yaml", V2).unwrap().version;
            assert_eq!(meta.current_version, Some(v2), "{at}, deployed again");
        }
    }
    println!("deploy crash points: {tried}, bucket and table disagreeing: 0");
}
