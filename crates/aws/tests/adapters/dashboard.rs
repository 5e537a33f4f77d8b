//! Issue 12: the dashboard over the AWS backend (DynamoDB, S3, SQS, ECS on moto,
//! through the real SDK): the DAGs page within its request budget, a run's
//! page, and a rerun from it; no page scans the table.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::config::SharedInterceptor;
use updraft_aws::clients::Clients;
use updraft_aws::settings::Settings;
use updraft_aws::specs::deploy;
use updraft_aws::testing::{
    ActionRecorder, CallCounter, Player, deployment, s3, sdk, template_actions,
};
use updraft_core::spec::SpecFile;
use updraft_core::state::{Run, RunState};
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;
use updraft_ui::{Request, Ui};

use crate::functions::{CHAIN, failing};

const NIGHTLY: &str = "dag: nightly\ntimezone: Asia/Tokyo\nschedule: '0 2 * * *'\ntasks:\n  - id: load\n    command: [echo, load]\n";

fn dynamodb_calls(counter: &CallCounter) -> BTreeMap<String, usize> {
    counter
        .take()
        .into_iter()
        .filter(|((service, _), _)| service.eq_ignore_ascii_case("dynamodb"))
        .map(|((_, operation), n)| (operation, n))
        .collect()
}

/// A deployment of both specs over `clients`, and a run of `chain` whose
/// task `b` failed.
async fn failed_chain(clients: &Clients) -> (Settings, Arc<Engine>, Player, Run) {
    let settings = deployment(clients).await;
    let engine = Arc::new(Engine::new(settings.ports(clients)));
    let files: Vec<SpecFile> = [("chain.yaml", CHAIN), ("nightly.yaml", NIGHTLY)]
        .into_iter()
        .map(|(name, text)| SpecFile {
            name: name.into(),
            text: text.into(),
        })
        .collect();
    deploy(
        &s3(),
        &settings.bucket,
        engine.ports().store.as_ref(),
        &files,
    )
    .await
    .unwrap();
    let run = engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let mut player = Player::new(&settings);
    player.run_until_idle(&engine, 30, failing(Some("b"))).await;
    (settings, engine, player, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dags_page_a_run_page_and_a_rerun_over_dynamodb() {
    let counter = CallCounter::default();
    let clients = Clients::with_interceptors(&sdk(), &[SharedInterceptor::new(counter.clone())]);
    let (_, engine, mut player, run) = failed_chain(&clients).await;
    let ui = Ui::new(engine.clone(), false).acting_as("arn:aws:iam::123456789012:user/ana");

    // Read the specs once, as a long-lived dashboard has.
    ui.handle(&Request::get("/")).await;
    counter.take();
    let page = ui.handle(&Request::get("/")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-dag=\"chain\"") && page.body.contains("data-dag=\"nightly\""));
    assert!(page.body.contains("class=\"run failed\""), "{}", page.body);
    let calls = dynamodb_calls(&counter);
    let total: usize = calls.values().sum();
    assert!(total <= 1 + 2 * 2, "the DAGs page of 2 DAGs sent {calls:?}");
    assert!(!calls.contains_key("Scan"), "{calls:?}");

    let run_page = format!("/dags/chain/runs/{}", updraft_ui::http::encode(&run.run_id));
    let page = ui.handle(&Request::get(&run_page)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-task=\"b\"><title>b: F failed"),
        "{}",
        page.body
    );
    // The failed task's panel links to its ECS task in the console.
    let panel = ui
        .handle(&Request::get(&format!("{run_page}/tasks/b")))
        .await;
    assert!(
        panel
            .body
            .contains("https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/")
            && panel.body.contains(">try 1 in the AWS console</a>"),
        "{}",
        panel.body
    );
    let grid = ui.handle(&Request::get("/dags/chain")).await;
    assert!(grid.body.contains("class=\"failed\""));
    let rerun = format!("{run_page}/rerun?failed=1&downstream=1");
    let dialog = ui.handle(&Request::get(&rerun)).await.body;
    assert!(dialog.contains("data-cleared=\"b\"") && dialog.contains("data-cleared=\"c\""));
    assert!(!dialog.contains("data-cleared=\"a\""));
    assert!(!dynamodb_calls(&counter).contains_key("Scan"));

    let form = format!("token={}&failed=1&downstream=1", ui.action_token());
    let done = ui
        .handle(&Request::post(&format!("{run_page}/rerun"), &form))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    player.run_until_idle(&engine, 30, failing(None)).await;
    let detail = engine.run_detail("chain", &run.run_id).await.unwrap();
    assert_eq!(detail.run.state, RunState::Succeeded);
    assert_eq!(player.launches_of("a"), 1, "upstream not launched again");
    assert_eq!(detail.audit[0].by, "arn:aws:iam::123456789012:user/ana");
}

/// A form posted from one of `ui`'s pages.
async fn post(ui: &Ui, path: &str, form: &str) -> updraft_ui::Response {
    let request = Request::post(path, &format!("token={}&{form}", ui.action_token()));
    ui.handle(&request).await
}

/// What a team attaches: the read-only policy covers every page, and the
/// operator policy (with it) every action; neither may write a spec or
/// scan the table, and the read-only one may write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_and_operator_policies_cover_what_the_dashboard_sends() {
    let owner = Clients::new(&sdk());
    let (settings, engine, player, run) = failed_chain(&owner).await;
    let as_user = |recorder: &ActionRecorder| {
        let mut clients =
            Clients::with_interceptors(&sdk(), &[SharedInterceptor::new(recorder.clone())]);
        // Rings of the dispatcher recorded, not sent (moto's canned Lambda
        // replies are one queue for every test of the server).
        clients.caller = updraft_aws::call::Caller::new(&sdk())
            .observed(recorder.call_observer())
            .planning()
            .0;
        let settings = updraft_aws::settings::Settings {
            dispatcher_function: Some("updraft-dispatcher".into()),
            ..settings.clone()
        };
        Arc::new(settings.engine_over(&clients))
    };
    let run_page = format!("/dags/chain/runs/{}", updraft_ui::http::encode(&run.run_id));

    let reader = ActionRecorder::default();
    let ui = Ui::new(as_user(&reader), true);
    for page in [
        "/".to_string(),
        "/dags/chain".into(),
        "/dags/nightly".into(),
        "/runs?dag=chain".into(),
        run_page.clone(),
        // Its log is asked of CloudWatch (where the Player wrote none).
        format!("{run_page}/tasks/b"),
        format!("{run_page}/lineage"),
        format!("/api/v1{run_page}"),
        "/api/v1/runs".into(),
    ] {
        let answer = ui.handle(&Request::get(&page)).await;
        assert_eq!(answer.status, 200, "{page}: {}", answer.body);
    }
    let read_only = template_actions("DashboardReadOnlyPolicy");
    let read = reader.actions();
    assert!(
        read.is_subset(&read_only),
        "pages sent {read:?}; the policy allows {read_only:?}"
    );
    for action in &read_only {
        let writes = [
            "Put", "Update", "Delete", "Transact", "Send", "Stop", "Scan",
        ];
        assert!(
            !writes.iter().any(|w| action.contains(w)),
            "read-only allows {action}"
        );
    }

    let operator = ActionRecorder::default();
    let ui = Ui::new(as_user(&operator), false);
    for (path, form) in [
        (format!("{run_page}/rerun"), "failed=1&downstream=1"),
        (format!("{run_page}/mark"), "task=c&state=failed"),
        ("/dags/nightly/pause".to_string(), ""),
        ("/dags/nightly/unpause".to_string(), ""),
        (
            "/dags/nightly/backfill".to_string(),
            "from=2026-11-01&to=2026-11-02",
        ),
        ("/dags/chain/trigger".to_string(), "note=from+the+dashboard"),
    ] {
        let done = post(&ui, &path, form).await;
        assert_eq!(done.status, 303, "{path}: {}", done.body);
    }
    // A try in flight, then the run cancelled: its ECS task is stopped.
    player.deliver(&engine).await;
    let live = engine
        .runs(
            &updraft_engine::ports::RunQuery {
                dag: Some("chain".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|(r, _)| !r.state.is_terminal())
        .expect("the triggered run is live")
        .0;
    let cancel = format!(
        "/dags/chain/runs/{}/cancel",
        updraft_ui::http::encode(&live.run_id)
    );
    let cancelled = post(&ui, &cancel, "").await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    let allowed: std::collections::BTreeSet<String> = read_only
        .union(&template_actions("DashboardOperatorPolicy"))
        .cloned()
        .collect();
    let sent = operator.actions();
    assert!(
        sent.is_subset(&allowed),
        "actions sent {sent:?}; the policies allow {allowed:?}"
    );
    assert!(
        sent.contains("ecs:StopTask"),
        "the cancel stopped a task: {sent:?}"
    );
    assert!(
        sent.contains("lambda:InvokeFunction"),
        "the trigger woke the dispatcher: {sent:?}"
    );
}

/// Issue 29: the hosted dashboard's function acts as the operator policy
/// (with the read-only one) lets a person act, and beyond that only writes
/// its logs and reads and keeps its own sign-in parameters.
#[test]
fn the_dashboard_functions_role_is_the_operator_policy_and_its_sign_in() {
    let template = updraft_aws::testing::template();
    let role = &template["Resources"]["DashboardRole"]["Properties"];
    assert_eq!(
        role["ManagedPolicyArns"],
        serde_json::json!(["DashboardReadOnlyPolicy", "DashboardOperatorPolicy"])
    );
    let own: Vec<String> = template_actions("DashboardRole").into_iter().collect();
    assert_eq!(
        own,
        [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "ssm:GetParameter",
            "ssm:PutParameter"
        ]
    );
    // Its parameters only: the stack's sign-in ones (and a team's secret).
    for statement in updraft_aws::testing::template_statements("DashboardRole") {
        if statement["Action"]
            .as_str()
            .is_some_and(|a| a.starts_with("ssm:"))
        {
            let resources = statement["Resource"].to_string();
            assert!(
                resources.contains("parameter/updraft/${AWS::StackName}/dashboard/"),
                "{resources}"
            );
        }
    }
}
