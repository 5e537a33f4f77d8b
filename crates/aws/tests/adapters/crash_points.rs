//! Every crash point of every use case over the DynamoDB store on moto:
//! an SDK interceptor fails the N-th request (or lets it through and then
//! fails it, as a process dying right after sending it would), so each of
//! the store's real requests, transactions included, is a crash point.

use std::sync::Arc;

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use updraft_aws::dynamo::DynamoStore;
use updraft_aws::schema::create_table;
use updraft_engine::ports::StateStore;
use updraft_engine::testing::{Faults, every_crash_point_of_every_use_case};

/// Puts every DynamoDB request through the crash-point switch.
#[derive(Debug)]
struct FaultInterceptor(Faults);

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map_or_else(|| "DynamoDB".into(), |m| format!("DynamoDB {}", m.name()))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_over_dynamodb_leaves_nothing_lost_doubled_or_stranded() {
    let sdk = updraft_aws::testing::sdk();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let mut tables = Vec::new();
    // One table per crash point (fewer than this are tried).
    for _ in 0..200 {
        let table = updraft_aws::testing::unique("crash");
        create_table(&client, &table).await.unwrap();
        tables.push(table);
    }
    let tables = std::sync::Mutex::new(tables.into_iter());
    let fresh = |faults: &Faults| {
        let table = tables.lock().unwrap().next().expect("enough tables");
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(SharedInterceptor::new(FaultInterceptor(faults.clone())))
            .build();
        let faulty = aws_sdk_dynamodb::Client::from_conf(config);
        (
            Arc::new(DynamoStore::new(client.clone(), table.clone())) as Arc<dyn StateStore>,
            Arc::new(DynamoStore::new(faulty, table)) as Arc<dyn StateStore>,
        )
    };
    every_crash_point_of_every_use_case(&fresh)
        .await
        .assert_clean();
}
