//! The ECS launcher against moto: RunTask carries the rendered command,
//! environment, profile sizes and the task-instance key; describe and stop
//! find the task again.

use std::collections::BTreeMap;

use updraft_aws::ecs::{EcsConfig, EcsLauncher, client_token};
use updraft_core::ids::TaskId;
use updraft_core::spec::{ComputeProfile, EcsProfile};
use updraft_core::state::TaskKey;
use updraft_core::template::RenderedTask;
use updraft_engine::ports::{HandleStatus, LaunchRequest, Launcher};

async fn launcher() -> (EcsLauncher, aws_sdk_ecs::Client, String) {
    let config = updraft_aws::testing::sdk();
    let client = aws_sdk_ecs::Client::new(&config);
    let cluster = updraft_aws::testing::unique("cluster");
    updraft_aws::testing::ecs_runner(&client, &cluster).await;
    let ecs = launcher_config(&cluster);
    assert!(
        !ecs.subnets.is_empty() && !ecs.security_groups.is_empty(),
        "moto's default VPC"
    );
    (EcsLauncher::new(client.clone(), ecs), client, cluster)
}

fn launcher_config(cluster: &str) -> EcsConfig {
    let (subnets, security_groups) = updraft_aws::testing::default_network();
    EcsConfig {
        cluster: cluster.to_string(),
        subnets,
        security_groups,
        assign_public_ip: false,
        default_task_definition: "updraft-runner".into(),
    }
}

fn request(try_number: u32) -> LaunchRequest {
    LaunchRequest {
        dag: "etl".into(),
        run_id: "scheduled__2026-11-21T00:00:00+09:00".into(),
        key: TaskKey {
            task_id: TaskId::parse("featurize").unwrap(),
            map_index: Some(7),
        },
        try_number,
        task: RenderedTask {
            image: None,
            command: Some(vec![
                "python".into(),
                "featurize.py".into(),
                "--day".into(),
                "2026-11-20".into(),
            ]),
            environment: BTreeMap::from([("MODE".into(), "full".into())]),
            ..Default::default()
        },
        compute: Some(ComputeProfile::Ecs(EcsProfile {
            task_definition: "updraft-runner".into(),
            cpu: Some(2048),
            memory: Some(4096),
            ephemeral_storage: Some(50),
        })),
        timeout: None,
        relaunch: false,
    }
}

#[tokio::test]
async fn run_task_carries_the_try_and_can_be_described_and_stopped() {
    let (launcher, client, cluster) = launcher().await;
    let launched = launcher.launch(&request(2)).await.unwrap();
    assert!(
        launched.handle.starts_with("arn:aws:ecs:us-east-1:"),
        "{}",
        launched.handle
    );

    let tasks = client
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&launched.handle)
        .include(aws_sdk_ecs::types::TaskField::Tags)
        .send()
        .await
        .unwrap();
    let task = &tasks.tasks()[0];
    assert_eq!(
        task.started_by(),
        Some(client_token(&request(2), &cluster).as_str())
    );
    let overrides = task.overrides().unwrap();
    assert_eq!(
        (overrides.cpu(), overrides.memory()),
        (Some("2048"), Some("4096"))
    );
    let main = &overrides.container_overrides()[0];
    assert_eq!(main.name(), Some("main"));
    assert_eq!(
        main.command(),
        ["python", "featurize.py", "--day", "2026-11-20"]
    );
    let env: BTreeMap<&str, &str> = main
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    assert_eq!(env["MODE"], "full");
    assert_eq!(env["UPDRAFT_TRY_NUMBER"], "2");
    assert_eq!(env["UPDRAFT_MAP_INDEX"], "7");
    assert_eq!(
        env["UPDRAFT_RUN_ID"],
        "scheduled__2026-11-21T00:00:00+09:00"
    );
    let tags: BTreeMap<&str, &str> = task
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags["updraft:task"], "featurize");
    assert_eq!(tags["updraft:map-index"], "7");

    assert_eq!(
        launcher.describe(&launched.handle).await.unwrap(),
        HandleStatus::Running
    );
    launcher.stop(&launched.handle).await.unwrap();
    // moto gives a stopped task's containers exit code 0; on AWS a stopped
    // container reports 137 or 143. Either way the try has ended.
    assert!(matches!(
        launcher.describe(&launched.handle).await.unwrap(),
        HandleStatus::Ended(_)
    ));
    let stopped = client
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&launched.handle)
        .send()
        .await
        .unwrap();
    let task = &stopped.tasks()[0];
    assert_eq!(task.last_status(), Some("STOPPED"));
    assert_eq!(
        task.stopped_reason(),
        Some("updraft: the try timed out, was rerun or was marked")
    );
}

#[tokio::test]
async fn an_unknown_task_is_lost() {
    let (launcher, _, cluster) = launcher().await;
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:task/{cluster}/0000");
    assert_eq!(launcher.describe(&arn).await.unwrap(), HandleStatus::Lost);
}

#[test]
fn the_client_token_is_one_per_try_and_cluster() {
    let token = |try_number, cluster| client_token(&request(try_number), cluster);
    assert_eq!(token(1, "prod"), token(1, "prod"));
    assert_ne!(token(1, "prod"), token(2, "prod"));
    assert_ne!(
        token(1, "prod"),
        token(1, "staging"),
        "one stack's task is not another's"
    );
    assert!(token(1, "prod").len() <= 64);
}

#[tokio::test]
async fn outputs_go_to_s3_and_are_read_back() {
    let (launcher, client, cluster) = launcher().await;
    let s3 = updraft_aws::testing::s3();
    let bucket = updraft_aws::testing::unique("outputs");
    updraft_aws::schema::create_bucket(&s3, &bucket)
        .await
        .unwrap();
    let launcher = launcher.with_outputs(s3.clone(), bucket.clone());
    let launched = launcher.launch(&request(1)).await.unwrap();
    let uri = launched.output.clone().unwrap();
    assert_eq!(
        uri,
        format!(
            "s3://{bucket}/outputs/etl/scheduled__2026-11-21T00:00:00+09:00/featurize[7]/1.json"
        )
    );
    let tasks = client
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&launched.handle)
        .send()
        .await
        .unwrap();
    let env = tasks.tasks()[0].overrides().unwrap().container_overrides()[0]
        .environment()
        .to_vec();
    assert!(
        env.iter()
            .any(|kv| kv.name() == Some("UPDRAFT_OUTPUT") && kv.value() == Some(uri.as_str()))
    );

    let attempt = updraft_core::state::Attempt {
        handle: Some(launched.handle.clone()),
        output_location: Some(uri.clone()),
        ..updraft_core::state::Attempt::new(
            request(1).key,
            1,
            updraft_core::state::TaskState::Running,
        )
    };
    assert_eq!(
        launcher.read_output(&attempt).await.unwrap(),
        None,
        "no output written"
    );
    let key = uri.strip_prefix(&format!("s3://{bucket}/")).unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(br#"{"rows": 42}"#.to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        launcher.read_output(&attempt).await.unwrap().as_deref(),
        Some(r#"{"rows": 42}"#)
    );
}

/// A launch retried for the same try (its dispatcher died after RunTask)
/// finds the task it started: moto ignores RunTask's client token, so this
/// is updraft's own guard.
#[tokio::test]
async fn launching_the_same_try_twice_starts_one_task() {
    let (launcher, client, cluster) = launcher().await;
    let relaunch = |try_number| LaunchRequest {
        relaunch: true,
        ..request(try_number)
    };
    let first = launcher.launch(&request(1)).await.unwrap();
    let again = launcher.launch(&relaunch(1)).await.unwrap();
    assert_eq!(first.handle, again.handle);
    let other = launcher.launch(&request(2)).await.unwrap();
    assert_ne!(first.handle, other.handle, "another try is another task");
    let tasks = client
        .list_tasks()
        .cluster(&cluster)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    assert_eq!(tasks.len(), 2);
    launcher.stop(&first.handle).await.unwrap();
    assert_eq!(
        launcher.launch(&relaunch(1)).await.unwrap().handle,
        first.handle,
        "also once it stopped"
    );
}

/// The log location comes from the task definition's awslogs options, and
/// `logs` reads the stream the container wrote.
#[tokio::test]
async fn logs_are_read_from_the_tasks_cloudwatch_stream() {
    let (launcher, _, _) = launcher().await;
    let cloudwatch = aws_sdk_cloudwatchlogs::Client::new(&updraft_aws::testing::sdk());
    let launcher = launcher.with_logs(cloudwatch.clone());
    let launched = launcher.launch(&request(3)).await.unwrap();
    let task_id = launched.handle.rsplit('/').next().unwrap();
    let stream = format!("updraft/main/{task_id}");
    assert_eq!(
        launched.log.as_deref(),
        Some(format!("cloudwatch:/updraft/runner:{stream}").as_str())
    );
    let _ = cloudwatch
        .create_log_group()
        .log_group_name("/updraft/runner")
        .send()
        .await;
    cloudwatch
        .create_log_stream()
        .log_group_name("/updraft/runner")
        .log_stream_name(&stream)
        .send()
        .await
        .unwrap();
    let event = |n: i64, text: &str| {
        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(chrono::Utc::now().timestamp_millis() + n)
            .message(text)
            .build()
            .unwrap()
    };
    cloudwatch
        .put_log_events()
        .log_group_name("/updraft/runner")
        .log_stream_name(&stream)
        .log_events(event(0, "featurizing shard 7"))
        .log_events(event(1, "wrote 42 rows"))
        .send()
        .await
        .unwrap();
    let attempt = updraft_core::state::Attempt {
        handle: Some(launched.handle.clone()),
        exit_code: Some(0),
        log: launched.log.clone(),
        ..updraft_core::state::Attempt::new(
            request(3).key,
            3,
            updraft_core::state::TaskState::Succeeded,
        )
    };
    use updraft_engine::ports::LogWindow;
    let first = launcher.logs(&attempt, &LogWindow::Tail).await.unwrap();
    assert_eq!(first.text, "featurizing shard 7\nwrote 42 rows\n");
    assert_eq!(first.earlier, None, "the whole log fits one page");

    // Issue 26: a long log is read a page at a time, from its end, and a
    // live one by what was written after the last page read.
    for batch in 0..3 {
        let mut put = cloudwatch
            .put_log_events()
            .log_group_name("/updraft/runner")
            .log_stream_name(&stream);
        for i in 0..400 {
            let n = batch * 400 + i;
            put = put.log_events(event(10 + n, &format!("line {n}")));
        }
        put.send().await.unwrap();
    }
    let news = launcher
        .logs(&attempt, &LogWindow::After(first.later.clone().unwrap()))
        .await
        .unwrap();
    assert!(
        news.text.starts_with("line 0\n"),
        "only what is new: {}",
        &news.text[..40]
    );
    let tail = launcher.logs(&attempt, &LogWindow::Tail).await.unwrap();
    let lines: Vec<&str> = tail.text.lines().collect();
    assert_eq!(lines.len(), 500);
    assert_eq!(lines[499], "line 1199");
    let mut window = LogWindow::Before(tail.earlier.clone().expect("an earlier page"));
    let mut seen = lines.len();
    for _ in 0..10 {
        let page = launcher.logs(&attempt, &window).await.unwrap();
        seen += page.text.lines().count();
        match page.earlier {
            Some(earlier) => window = LogWindow::Before(earlier),
            None => break,
        }
    }
    assert_eq!(seen, 1202, "paging back reads every line once");
}

/// Issue 11: reconciliation asks about many tasks in one DescribeTasks
/// (up to 100 each), in order, a task ECS does not know being lost.
#[tokio::test]
async fn many_tasks_are_described_in_one_request() {
    let (launcher, _, cluster) = launcher().await;
    let mut handles = Vec::new();
    for try_number in 1..=3 {
        handles.push(launcher.launch(&request(try_number)).await.unwrap().handle);
    }
    launcher.stop(&handles[1]).await.unwrap();
    handles.push(format!(
        "arn:aws:ecs:us-east-1:123456789012:task/{cluster}/0000"
    ));
    let counter = updraft_aws::testing::CallCounter::default();
    let counted = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&updraft_aws::testing::sdk())
            .interceptor(counter.clone())
            .build(),
    );
    let statuses = EcsLauncher::new(counted, launcher_config(&cluster))
        .describe_many(&handles)
        .await
        .unwrap();
    assert_eq!(statuses[0], HandleStatus::Running);
    assert!(
        matches!(statuses[1], HandleStatus::Ended(_)),
        "{statuses:?}"
    );
    assert_eq!(statuses[2], HandleStatus::Running);
    assert_eq!(statuses[3], HandleStatus::Lost);
    let calls = counter.take();
    assert_eq!(calls.values().sum::<usize>(), 1, "{calls:?}");
}
