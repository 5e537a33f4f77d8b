//! The SageMaker launcher against moto: CreateTrainingJob carries the
//! profile, image, command, hyperparameters and the try's output path under
//! a name unique per try; a second launch of the try finds the job; the
//! router sends SageMaker profiles here and ECS ones to ECS.

use std::collections::BTreeMap;
use std::time::Duration;

use updraft_aws::ecs::{EcsConfig, EcsLauncher};
use updraft_aws::launch::AwsLauncher;
use updraft_aws::sagemaker::{DEPLOYMENT_TAG, SageMakerConfig, SageMakerLauncher, job_name};
use updraft_core::ids::TaskId;
use updraft_core::spec::{ComputeProfile, SagemakerProfile};
use updraft_core::state::{Attempt, TaskKey};
use updraft_core::template::RenderedTask;
use updraft_engine::ports::{HandleStatus, LaunchError, LaunchRequest, Launcher};

const ROLE: &str = "arn:aws:iam::123456789012:role/updraft-sagemaker";
/// The deployment's bucket, which also scopes its job names.
const BUCKET: &str = "models";

fn launcher(bucket: &str) -> (SageMakerLauncher, aws_sdk_sagemaker::Client) {
    let client = aws_sdk_sagemaker::Client::new(&updraft_aws::testing::sdk());
    let config = SageMakerConfig {
        role_arn: ROLE.into(),
        bucket: bucket.into(),
    };
    (SageMakerLauncher::new(client.clone(), config), client)
}

fn request(dag: &str, try_number: u32) -> LaunchRequest {
    LaunchRequest {
        dag: dag.into(),
        run_id: "manual__2026-11-22T03:00:00Z".into(),
        key: TaskKey {
            task_id: TaskId::parse("train").unwrap(),
            map_index: None,
        },
        try_number,
        task: RenderedTask {
            image: Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/train:2".into()),
            command: Some(vec!["python".into(), "train.py".into()]),
            environment: BTreeMap::from([("MODE".into(), "full".into())]),
            hyperparameters: BTreeMap::from([
                ("epochs".into(), "3".into()),
                ("lr".into(), "0.01".into()),
            ]),
            inputs: BTreeMap::from([("train".into(), "s3://data/train/".into())]),
            service: None,
        },
        compute: Some(ComputeProfile::Sagemaker(SagemakerProfile {
            instance_type: "ml.g5.2xlarge".into(),
            instance_count: 2,
            volume_size: 100,
            max_runtime: Some(Duration::from_secs(6 * 3600)),
        })),
        timeout: None,
        relaunch: false,
    }
}

#[tokio::test]
async fn create_training_job_carries_the_try_and_its_model_becomes_the_output() {
    let dag = updraft_aws::testing::unique("ml");
    let (launcher, client) = launcher(BUCKET);
    let launched = launcher.launch(&request(&dag, 2)).await.unwrap();
    assert_eq!(launched.handle, job_name(&request(&dag, 2), BUCKET));

    let job = client
        .describe_training_job()
        .training_job_name(&launched.handle)
        .send()
        .await
        .unwrap();
    assert_eq!(job.role_arn(), Some(ROLE));
    let tags = client
        .list_tags()
        .resource_arn(job.training_job_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some(DEPLOYMENT_TAG) && t.value() == Some(BUCKET)),
        "tagged with its deployment, which the stack's event rule matches: {:?}",
        tags.tags()
    );
    let algorithm = job.algorithm_specification().unwrap();
    assert_eq!(
        algorithm.training_image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/train:2")
    );
    let resources = job.resource_config().unwrap();
    assert_eq!(
        (
            resources.instance_type().map(|t| t.as_str()),
            resources.instance_count(),
            resources.volume_size_in_gb()
        ),
        (Some("ml.g5.2xlarge"), Some(2), Some(100))
    );
    assert_eq!(
        job.stopping_condition().unwrap().max_runtime_in_seconds(),
        Some(6 * 3600)
    );
    let hyperparameters = job.hyper_parameters().unwrap();
    assert_eq!(hyperparameters["epochs"], "3");
    assert_eq!(hyperparameters["lr"], "0.01");
    let channel = &job.input_data_config()[0];
    assert_eq!(channel.channel_name(), Some("train"));
    let source = channel.data_source().unwrap().s3_data_source().unwrap();
    assert_eq!(source.s3_uri(), Some("s3://data/train/"));
    let output_path = format!("s3://models/outputs/{dag}/manual__2026-11-22T03:00:00Z/train/2/");
    assert_eq!(
        job.output_data_config().unwrap().s3_output_path(),
        Some(output_path.as_str())
    );

    // moto completes every job at once.
    let HandleStatus::Ended(completion) = launcher.describe(&launched.handle).await.unwrap() else {
        panic!("moto's jobs are Completed");
    };
    assert_eq!(completion.outcome, updraft_core::plan::Outcome::Succeeded);
    let attempt = Attempt {
        handle: Some(launched.handle.clone()),
        log: launched.log.clone(),
        ..Attempt::new(
            request(&dag, 2).key,
            2,
            updraft_core::state::TaskState::Running,
        )
    };
    let output: serde_json::Value =
        serde_json::from_str(&launcher.read_output(&attempt).await.unwrap().unwrap()).unwrap();
    let model = format!("{output_path}{}/output/model.tar.gz", launched.handle);
    assert_eq!(output["model_artifact"], model.as_str());
    assert_eq!(output["artifacts"], serde_json::json!([model]));
}

#[tokio::test]
async fn a_second_launch_of_a_try_finds_its_job() {
    let dag = updraft_aws::testing::unique("ml");
    let (launcher, client) = launcher(BUCKET);
    let first = launcher.launch(&request(&dag, 1)).await.unwrap();
    let created = |name: String| {
        let client = client.clone();
        async move {
            client
                .describe_training_job()
                .training_job_name(name)
                .send()
                .await
                .unwrap()
                .creation_time()
                .cloned()
        }
    };
    let before = created(first.handle.clone()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = launcher.launch(&request(&dag, 1)).await.unwrap();
    assert_eq!(again, first);
    // moto overwrites a job created twice under one name, with a new
    // creation time: the same time shows there was no second create.
    assert_eq!(created(first.handle.clone()).await, before);

    let next_try = launcher.launch(&request(&dag, 2)).await.unwrap();
    assert_ne!(next_try.handle, first.handle);
}

#[tokio::test]
async fn an_unknown_job_is_lost() {
    let (launcher, _) = launcher(BUCKET);
    assert_eq!(
        launcher.describe("no-such-job-0").await.unwrap(),
        HandleStatus::Lost
    );
}

#[tokio::test]
async fn the_router_sends_each_profile_to_its_service() {
    let sdk = updraft_aws::testing::sdk();
    let ecs_client = aws_sdk_ecs::Client::new(&sdk);
    let cluster = updraft_aws::testing::unique("cluster");
    updraft_aws::testing::ecs_runner(&ecs_client, &cluster).await;
    let (subnets, security_groups) = updraft_aws::testing::default_network();
    let ecs = EcsLauncher::new(
        ecs_client,
        EcsConfig {
            cluster,
            subnets,
            security_groups,
            assign_public_ip: false,
            default_task_definition: "updraft-runner".into(),
        },
    );
    let dag = updraft_aws::testing::unique("ml");
    let router = AwsLauncher::new(ecs.clone(), Some(launcher(BUCKET).0));
    let training = router.launch(&request(&dag, 1)).await.unwrap();
    assert_eq!(training.handle, job_name(&request(&dag, 1), BUCKET));
    assert!(matches!(
        router.describe(&training.handle).await.unwrap(),
        HandleStatus::Ended(_)
    ));
    let plain = LaunchRequest {
        compute: None,
        ..request(&dag, 1)
    };
    let task = router.launch(&plain).await.unwrap();
    assert!(task.handle.starts_with("arn:aws:ecs:"), "{}", task.handle);
    assert_eq!(
        router.describe(&task.handle).await.unwrap(),
        HandleStatus::Running
    );

    let without_role = AwsLauncher::new(ecs, None);
    let err = without_role.launch(&request(&dag, 3)).await.unwrap_err();
    assert!(
        matches!(&err, LaunchError::Refused(why) if why.contains("UPDRAFT_SAGEMAKER_ROLE")),
        "{err:?}"
    );
}

#[test]
fn job_names_are_valid_and_one_per_try() {
    let long = "a_very_long_dag_name_that_goes_on_and_on_for_sixty_chars_xx";
    for dag in ["ml", long] {
        for try_number in [1, 4_000_000_000] {
            let name = job_name(&request(dag, try_number), BUCKET);
            assert!(name.len() <= 63, "{name}");
            assert!(name.starts_with(|c: char| c.is_ascii_alphanumeric()));
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{name}"
            );
        }
    }
    assert_eq!(
        job_name(&request("ml", 1), BUCKET),
        job_name(&request("ml", 1), BUCKET)
    );
    assert_ne!(
        job_name(&request("ml", 1), BUCKET),
        job_name(&request("ml", 2), BUCKET)
    );
    let mapped = |i| {
        let mut r = request("ml", 1);
        r.key.map_index = Some(i);
        job_name(&r, BUCKET)
    };
    assert_ne!(mapped(0), mapped(1));
    assert!(job_name(&request("ml_pipeline", 1), BUCKET).starts_with("ml-pipeline-train-1-"));
    // Issue 11: two stacks (their buckets) running the same DAG never
    // share a job name, so neither adopts the other's job.
    assert_ne!(
        job_name(&request("ml", 1), "staging-bucket"),
        job_name(&request("ml", 1), "prod-bucket")
    );
}
