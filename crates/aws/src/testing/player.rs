//! The harness's stand-ins for what AWS does around the functions: Lambda
//! invoking the dispatcher when a try was queued, and ECS and
//! SageMaker ending what was launched and sending their state-change
//! events to the recorder, in the JSON shape AWS documents.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Value, json};
use updraft_engine::Engine;

use super::{s3, sdk, unique};
use crate::settings::Settings;

/// Where the player sends invocations and state-change events: the
/// handlers in this process over an engine, or the built functions.
#[async_trait]
pub trait Functions: Sync {
    /// The dispatcher's answer to an invocation (a ring).
    async fn dispatcher(&self, event: &Value) -> Value;
    /// The recorder's answer to a state-change event.
    async fn recorder(&self, event: &Value) -> Value;
}

#[async_trait]
impl<F: Functions + Send + ?Sized> Functions for std::sync::Arc<F> {
    async fn dispatcher(&self, event: &Value) -> Value {
        self.as_ref().dispatcher(event).await
    }

    async fn recorder(&self, event: &Value) -> Value {
        self.as_ref().recorder(event).await
    }
}

#[async_trait]
impl Functions for Engine {
    async fn dispatcher(&self, event: &Value) -> Value {
        crate::functions::dispatcher(self, event)
            .await
            .expect("dispatcher")
    }

    async fn recorder(&self, event: &Value) -> Value {
        crate::functions::recorder(self, event)
            .await
            .expect("recorder")
    }
}

/// One launched try as the harness sees it.
#[derive(Clone, Debug)]
pub struct Started {
    /// The ECS task ARN or training job name.
    pub handle: String,
    /// `UPDRAFT_RUN_ID`.
    pub run_id: String,
    /// `UPDRAFT_TASK_ID`.
    pub task_id: String,
    /// `UPDRAFT_MAP_INDEX`.
    pub map_index: Option<u32>,
    /// The container command (the argv after the image's entrypoint).
    pub command: Vec<String>,
    /// `UPDRAFT_OUTPUT`, where an ECS task writes its output.
    pub output: Option<String>,
    /// updraft asked ECS to stop it (a timeout, a cancel, a launch that
    /// lost its compare-and-set): its try was closed when it was stopped.
    pub stopped: bool,
}

/// How the harness ends a try: an exit code (a training job fails on any
/// but 0) and, for an ECS task, the output it writes first.
#[derive(Clone, Debug, Default)]
pub struct Ending {
    /// 0 succeeds.
    pub exit_code: i32,
    /// Written to `UPDRAFT_OUTPUT` before the task stops.
    pub output: Option<Value>,
}

/// Plays SQS, ECS and SageMaker for one deployment.
pub struct Player {
    settings: Settings,
    /// For tests that send or receive messages themselves.
    pub sqs: aws_sdk_sqs::Client,
    /// For tests that look at tasks themselves.
    pub ecs: aws_sdk_ecs::Client,
    sagemaker: aws_sdk_sagemaker::Client,
    /// Every try ended so far, in order.
    pub ended: Vec<Started>,
    /// Every ECS task updraft stopped, whose event then recorded nothing.
    pub stopped: Vec<Started>,
    /// Send each event twice, and check the second is dropped (default).
    pub duplicate_events: bool,
}

/// An ECS `Task State Change` event for a task of `cluster`.
pub fn ecs_event(cluster: &str, arn: &str, last_status: &str, exit: i32) -> Value {
    json!({
        "version": "0", "id": unique("event"), "detail-type": "ECS Task State Change", "source": "aws.ecs",
        "time": "2026-11-21T15:04:10Z", "region": "us-east-1", "resources": [arn],
        "detail": {
            "clusterArn": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"),
            "taskArn": arn, "lastStatus": last_status, "desiredStatus": "STOPPED",
            "stopCode": "EssentialContainerExited", "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "main", "exitCode": exit, "lastStatus": last_status, "taskArn": arn}],
        }
    })
}

/// A `SageMaker Training Job State Change` event.
pub fn training_event(job: &str, status: &str, failure: Option<&str>) -> Value {
    let arn = format!("arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}");
    let mut detail = json!({
        "TrainingJobName": job, "TrainingJobArn": arn, "TrainingJobStatus": status,
        "SecondaryStatus": status, "CreationTime": 1_763_734_200_000_u64,
        "LastModifiedTime": 1_763_755_807_000_u64,
    });
    if let Some(reason) = failure {
        detail["FailureReason"] = json!(reason);
    }
    json!({
        "version": "0", "id": unique("event"), "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker", "account": "123456789012", "time": "2026-11-21T20:10:07Z",
        "region": "us-east-1", "resources": [arn], "detail": detail,
    })
}

impl Player {
    /// A player for the deployment `settings` names.
    pub fn new(settings: &Settings) -> Player {
        let config = sdk();
        Player {
            settings: settings.clone(),
            sqs: aws_sdk_sqs::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            sagemaker: aws_sdk_sagemaker::Client::new(&config),
            ended: Vec::new(),
            stopped: Vec::new(),
            duplicate_events: true,
        }
    }

    /// How many tries of `task` ended.
    pub fn launches_of(&self, task: &str) -> usize {
        self.ended.iter().filter(|s| s.task_id == task).count()
    }

    /// Invokes the dispatcher as a ring does (the deployments of tests
    /// name no dispatcher function, so their queues ring no one); returns
    /// how many messages it settled.
    pub async fn deliver(&self, functions: &(impl Functions + ?Sized)) -> usize {
        let response = functions
            .dispatcher(&json!({ "source": crate::bell::RING }))
            .await;
        response["received"]
            .as_u64()
            .expect("the dispatcher's count") as usize
    }

    /// Ends every running ECS task and training job not ended before, as
    /// `end` says, and sends each event to the recorder (twice: the second,
    /// a duplicate, must be dropped). Returns how many it ended.
    pub async fn finish(
        &mut self,
        functions: &(impl Functions + ?Sized),
        end: impl Fn(&Started) -> Ending,
    ) -> usize {
        let mut ended = 0;
        for started in self.running_tasks().await {
            if started.stopped {
                // ECS sends its STOPPED event; its try is already closed.
                let event = ecs_event(&self.settings.ecs.cluster, &started.handle, "STOPPED", 137);
                let out = functions.recorder(&event).await;
                assert_eq!(out["recorded"], false, "a stopped try's event: {out}");
                self.stopped.push(started);
                continue;
            }
            let ending = end(&started);
            if let (Some(output), Some(uri)) = (&ending.output, &started.output) {
                let (bucket, key) = uri
                    .strip_prefix("s3://")
                    .and_then(|r| r.split_once('/'))
                    .expect("an S3 output URI");
                s3().put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(output.to_string().into_bytes().into())
                    .send()
                    .await
                    .expect("output written");
            }
            self.ecs
                .stop_task()
                .cluster(&self.settings.ecs.cluster)
                .task(&started.handle)
                .send()
                .await
                .expect("StopTask");
            let event = ecs_event(
                &self.settings.ecs.cluster,
                &started.handle,
                "STOPPED",
                ending.exit_code,
            );
            self.record(functions, &event).await;
            self.ended.push(started);
            ended += 1;
        }
        for started in self.new_training_jobs().await {
            let event = match end(&started).exit_code {
                0 => training_event(&started.handle, "Completed", None),
                code => training_event(
                    &started.handle,
                    "Failed",
                    Some(&format!("AlgorithmError: exit code {code}")),
                ),
            };
            self.record(functions, &event).await;
            self.ended.push(started);
            ended += 1;
        }
        ended
    }

    /// Delivers and finishes until nothing moves (at most `rounds` times).
    pub async fn run_until_idle(
        &mut self,
        functions: &(impl Functions + ?Sized),
        rounds: usize,
        end: impl Fn(&Started) -> Ending,
    ) {
        for _ in 0..rounds {
            let moved = self.deliver(functions).await + self.finish(functions, &end).await;
            if moved == 0 {
                return;
            }
        }
    }

    async fn record(&self, functions: &(impl Functions + ?Sized), event: &Value) {
        let first = functions.recorder(event).await;
        assert_eq!(first["recorded"], true, "{first}");
        if !self.duplicate_events {
            return;
        }
        let again = functions.recorder(event).await;
        assert_eq!(again["recorded"], false, "a duplicate event is dropped");
    }

    fn is_new(&self, handle: &str) -> bool {
        !self
            .ended
            .iter()
            .chain(&self.stopped)
            .any(|s| s.handle == handle)
    }

    async fn running_tasks(&self) -> Vec<Started> {
        let cluster = &self.settings.ecs.cluster;
        let arns = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .send()
            .await
            .expect("ListTasks")
            .task_arns
            .unwrap_or_default();
        let arns: Vec<String> = arns.into_iter().filter(|a| self.is_new(a)).collect();
        if arns.is_empty() {
            return Vec::new();
        }
        let described = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .expect("DescribeTasks");
        described
            .tasks()
            .iter()
            .map(|task| {
                let main = task
                    .overrides()
                    .and_then(|o| o.container_overrides().first());
                let env: BTreeMap<&str, &str> = main
                    .map(|m| m.environment())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|kv| Some((kv.name()?, kv.value()?)))
                    .collect();
                Started {
                    handle: task.task_arn().unwrap_or_default().to_string(),
                    run_id: env.get("UPDRAFT_RUN_ID").unwrap_or(&"").to_string(),
                    task_id: env.get("UPDRAFT_TASK_ID").unwrap_or(&"").to_string(),
                    map_index: env.get("UPDRAFT_MAP_INDEX").and_then(|i| i.parse().ok()),
                    command: main.map(|m| m.command().to_vec()).unwrap_or_default(),
                    output: env.get("UPDRAFT_OUTPUT").map(|o| o.to_string()),
                    stopped: task.desired_status() == Some("STOPPED"),
                }
            })
            .collect()
    }

    async fn new_training_jobs(&self) -> Vec<Started> {
        let mut names = Vec::new();
        let mut token = None;
        for _ in 0..100 {
            let page = self
                .sagemaker
                .list_training_jobs()
                .set_next_token(token)
                .send()
                .await
                .expect("ListTrainingJobs");
            names.extend(
                page.training_job_summaries()
                    .iter()
                    .filter_map(|j| j.training_job_name().map(str::to_string))
                    .filter(|name| self.is_new(name)),
            );
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        let mut started = Vec::new();
        for name in names {
            let job = self
                .sagemaker
                .describe_training_job()
                .training_job_name(&name)
                .send()
                .await
                .expect("DescribeTrainingJob");
            // Jobs of other tests (moto's account is shared) write to
            // other buckets.
            let ours = job
                .output_data_config()
                .and_then(|o| o.s3_output_path())
                .is_some_and(|p| p.starts_with(&format!("s3://{}/", self.settings.bucket)));
            if !ours {
                continue;
            }
            // moto keeps a job's tags but not its environment.
            let tags: BTreeMap<String, String> = self
                .sagemaker
                .list_tags()
                .resource_arn(job.training_job_arn().unwrap_or_default())
                .send()
                .await
                .expect("ListTags")
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            started.push(Started {
                handle: name,
                run_id: tags.get("updraft:run").cloned().unwrap_or_default(),
                task_id: tags.get("updraft:task").cloned().unwrap_or_default(),
                map_index: tags.get("updraft:map-index").and_then(|i| i.parse().ok()),
                command: job
                    .algorithm_specification()
                    .map(|a| a.container_entrypoint().to_vec())
                    .unwrap_or_default(),
                output: None,
                stopped: false,
            });
        }
        started
    }
}
