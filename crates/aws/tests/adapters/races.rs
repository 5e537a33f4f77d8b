//! Issue 11: races on AWS — a rerun or a mark while a try launches on ECS,
//! and two stacks in one account and region running the same DAG — each
//! through the real functions and the real SDK against moto.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;
use updraft_aws::clients::Clients;
use updraft_aws::functions::{planner, recorder};
use updraft_aws::sagemaker::DEPLOYMENT_TAG;
use updraft_aws::settings::Settings;
use updraft_aws::testing::{Player, deployment, sdk, training_event};
use updraft_core::plan::Rerun;
use updraft_core::state::{Attempt, RunState, TaskState};
use updraft_engine::Engine;
use updraft_engine::ports::{
    HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, PortResult,
};
use updraft_engine::usecase::RunRequest;

use crate::functions::{CHAIN, deploy_spec, failing, key};

/// What an operator does while a try launches.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Meanwhile {
    /// Marks the task succeeded.
    Mark,
    /// Reruns the task.
    Rerun,
}

/// The real launcher, except that right after it launched the first try of
/// a task `chosen` picks, an operator changes that task: the dispatcher's
/// launch then loses its compare-and-set.
pub(crate) struct WhileLaunching {
    pub(crate) inner: Arc<dyn Launcher>,
    pub(crate) operator: Arc<Engine>,
    pub(crate) meanwhile: Meanwhile,
    pub(crate) chosen: fn(&LaunchRequest) -> bool,
    pub(crate) done: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl Launcher for WhileLaunching {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let launched = self.inner.launch(request).await?;
        let first = (self.chosen)(request)
            && self
                .done
                .lock()
                .unwrap()
                .insert(format!("{}/{}", request.run_id, request.key));
        if first {
            let (dag, run_id) = (request.dag.as_str(), request.run_id.as_str());
            match self.meanwhile {
                Meanwhile::Mark => {
                    self.operator
                        .mark(dag, run_id, &request.key, TaskState::Succeeded, "ops")
                        .await
                        .expect("marked while launching");
                }
                Meanwhile::Rerun => {
                    let rerun = Rerun {
                        tasks: vec![request.key.task_id.clone()],
                        ..Rerun::default()
                    };
                    self.operator
                        .rerun(dag, run_id, &rerun, "ops", None)
                        .await
                        .expect("rerun while launching");
                }
            }
        }
        Ok(launched)
    }
    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        self.inner.describe(handle).await
    }
    async fn describe_many(&self, handles: &[String]) -> PortResult<Vec<HandleStatus>> {
        self.inner.describe_many(handles).await
    }
    async fn stop(&self, handle: &str) -> PortResult<()> {
        self.inner.stop(handle).await
    }
    async fn logs(
        &self,
        attempt: &Attempt,
        window: &updraft_engine::ports::LogWindow,
    ) -> PortResult<updraft_engine::ports::LogPage> {
        self.inner.logs(attempt, window).await
    }
    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        self.inner.read_output(attempt).await
    }
}

/// A chain whose dispatcher launches through [`WhileLaunching`] on `b`.
async fn chain_with(meanwhile: Meanwhile) -> (Engine, Arc<Engine>, Settings) {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let operator = Arc::new(Engine::new(settings.ports(&clients)));
    deploy_spec(&settings, &operator, CHAIN).await;
    let mut ports = settings.ports(&clients);
    ports.launcher = Arc::new(WhileLaunching {
        inner: ports.launcher,
        operator: operator.clone(),
        meanwhile,
        chosen: |request| request.key.task_id.as_str() == "b",
        done: Mutex::default(),
    });
    (Engine::new(ports), operator, settings)
}

async fn launched_during(meanwhile: Meanwhile) {
    let (engine, operator, settings) = chain_with(meanwhile).await;
    let mut player = Player::new(&settings);
    let run = operator
        .trigger("chain", RunRequest::by("ops"))
        .await
        .unwrap();
    player.run_until_idle(&engine, 30, failing(None)).await;
    let store = operator.ports().store.clone();
    let state = store
        .run("chain", &run.run_id)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, RunState::Succeeded, "{meanwhile:?}");
    // The try that lost its compare-and-set was stopped by its dispatcher
    // before the harness could end it, and no stop is left kept.
    let b = store
        .instance("chain", &run.run_id, &key("b"))
        .await
        .unwrap()
        .unwrap();
    let lost: Vec<&str> = player
        .stopped
        .iter()
        .filter(|s| s.task_id == "b")
        .map(|s| s.handle.as_str())
        .collect();
    assert_eq!(
        lost.len(),
        1,
        "{meanwhile:?}: b's first try stopped: {lost:?}"
    );
    let ecs_tasks = player
        .ecs
        .list_tasks()
        .cluster(&settings.ecs.cluster)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    assert_eq!(store.stops().await.unwrap(), [], "{meanwhile:?}");
    match meanwhile {
        Meanwhile::Mark => {
            assert_eq!(b.state, TaskState::Succeeded);
            assert_eq!(b.try_number, 1);
            let attempt = store
                .attempt("chain", &run.run_id, &key("b"), 1)
                .await
                .unwrap()
                .unwrap();
            // The lost launch is on record as stopped, so its logs can be
            // found: its record is written before the compare-and-set.
            assert!(attempt.handle.is_some(), "{attempt:?}");
            assert_eq!(attempt.state, TaskState::Failed, "{attempt:?}");
            let reason = attempt.reason.unwrap_or_default();
            assert!(reason.contains("moved on"), "{reason}");
        }
        Meanwhile::Rerun => {
            assert_eq!((b.state, b.try_number), (TaskState::Succeeded, 2));
        }
    }
    // Every task ECS started is stopped: a, b's lost try, b's counted try
    // (after a rerun), c.
    let expected = match meanwhile {
        Meanwhile::Mark => 3,
        Meanwhile::Rerun => 4,
    };
    assert_eq!(ecs_tasks.len(), expected, "{meanwhile:?}: {ecs_tasks:?}");
    let launches_of_b = player.launches_of("b");
    assert_eq!(
        launches_of_b,
        usize::from(matches!(meanwhile, Meanwhile::Rerun)),
        "the lost try was stopped by its dispatcher, not by its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_while_a_try_launches_stops_what_was_launched() {
    launched_during(Meanwhile::Mark).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_while_a_try_launches_stops_it_and_runs_the_next_try_once() {
    launched_during(Meanwhile::Rerun).await;
}

const TWIN: &str = "dag: twin\nschedule: '@hourly'\nstart: 2026-01-01\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.m5.large }\ntasks:\n  - id: prep\n    command: [prep]\n  - id: train\n    after: [prep]\n    compute: gpu\n    image: trainer:1\n";

/// One stack of two: its engine and its harness.
async fn stack() -> (Engine, Settings, Player) {
    let clients = Clients::new(&sdk());
    let mut settings = deployment(&clients).await;
    settings.sagemaker_role = Some("arn:aws:iam::123456789012:role/updraft-sagemaker".into());
    let engine = Engine::new(settings.ports(&clients));
    deploy_spec(&settings, &engine, TWIN).await;
    let player = Player::new(&settings);
    (engine, settings, player)
}

/// Two stacks (staging, prod) in one account and region run the same DAG
/// at the same point, so the same run id: their training jobs have names
/// of their own and their deployment's tag, each recorder takes only its
/// own job's event, and both runs succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stacks_running_the_same_dag_never_share_a_try() {
    let (staging, staging_settings, mut staging_player) = stack().await;
    let (prod, prod_settings, mut prod_player) = stack().await;
    let tick = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"});
    let mut run_ids = Vec::new();
    for (engine, settings) in [(&staging, &staging_settings), (&prod, &prod_settings)] {
        let ticked = planner(engine, &settings.bucket, &tick).await.unwrap();
        assert_eq!(ticked["created"], 1, "{ticked}");
        let runs = engine.ports().store.active_runs().await.unwrap();
        run_ids.push(runs[0].run_id.clone());
    }
    assert_eq!(run_ids[0], run_ids[1], "the same point, the same run id");
    let run_id = &run_ids[0];

    // Each delivers `prep` and ends it: `train` is queued in both.
    for (engine, player) in [(&staging, &mut staging_player), (&prod, &mut prod_player)] {
        assert_eq!(player.deliver(engine).await, 1);
        assert_eq!(player.finish(engine, failing(None)).await, 1);
        assert_eq!(player.deliver(engine).await, 1);
    }
    let job = |engine: &Engine| {
        let store = engine.ports().store.clone();
        let run_id = run_id.clone();
        async move {
            let attempt = store
                .attempt("twin", &run_id, &key("train"), 1)
                .await
                .unwrap()
                .unwrap();
            attempt.handle.expect("train launched")
        }
    };
    let (staging_job, prod_job) = (job(&staging).await, job(&prod).await);
    assert_ne!(staging_job, prod_job, "one training job per stack");
    let sagemaker = aws_sdk_sagemaker::Client::new(&sdk());
    for (job, settings) in [
        (&staging_job, &staging_settings),
        (&prod_job, &prod_settings),
    ] {
        let arn = sagemaker
            .describe_training_job()
            .training_job_name(job)
            .send()
            .await
            .unwrap()
            .training_job_arn
            .unwrap();
        let tags = sagemaker
            .list_tags()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let deployment = tags
            .tags()
            .iter()
            .find(|t| t.key() == Some(DEPLOYMENT_TAG))
            .and_then(|t| t.value());
        assert_eq!(deployment, Some(settings.bucket.as_str()));
    }
    // The other stack's event, were a rule to deliver it, records nothing.
    let stray = recorder(&prod, &training_event(&staging_job, "Completed", None))
        .await
        .unwrap();
    assert_eq!(stray["recorded"], false, "{stray}");
    for (engine, player) in [(&staging, &mut staging_player), (&prod, &mut prod_player)] {
        player.run_until_idle(engine, 10, failing(None)).await;
        let run = engine
            .ports()
            .store
            .run("twin", run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.state, RunState::Succeeded);
        assert_eq!(player.launches_of("train"), 1);
        assert_eq!(player.launches_of("prep"), 1);
    }
}
