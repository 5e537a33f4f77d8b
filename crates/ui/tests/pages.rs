//! The router over an in-memory engine: the DAGs page and its JSON, the
//! filters, escaping, and what a read-only dashboard refuses.

use updraft_engine::Settings;
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;
use updraft_ui::{Request, Ui};

const SPEC: &str = "dag: etl\ndescription: \"loads <script>alert(1)</script> nightly\"\nowner: data-team\ntags: [nightly, finance]\ntimezone: Asia/Tokyo\nschedule: '0 2 * * *'\ntasks:\n  - id: a\n    command: [x]\n";

async fn ui(read_only: bool) -> (World, Ui) {
    let world = World::new(SPEC, None, Settings::default());
    world
        .engine
        .trigger("etl", RunRequest::by("ana"))
        .await
        .unwrap();
    let ui = Ui::new(world.engine.clone(), read_only);
    (world, ui)
}

#[tokio::test]
async fn the_dags_page_lists_each_dag_with_its_schedule_next_run_and_runs() {
    let (_world, ui) = ui(false).await;
    let page = ui.handle(&Request::get("/")).await;
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    let body = &page.body;
    assert!(body.contains("data-dag=\"etl\""), "{body}");
    assert!(body.contains("data-team") && body.contains(">nightly<"));
    assert!(body.contains("<code>0 2 * * *</code>"));
    // The world starts 2026-11-21T00:00:30Z: 02:00 in Tokyo is 17:00 UTC.
    assert!(
        body.contains("title=\"2026-11-21 17:00:00 UTC\">2026-11-22 02:00:00 JST</time>"),
        "the next run in the DAG's zone, UTC on hover: {body}"
    );
    assert!(body.contains("class=\"run running\""), "{body}");
    assert!(
        body.contains(">R</a>"),
        "a state has a letter as well as a colour"
    );
}

#[tokio::test]
async fn strings_from_specs_render_as_text() {
    let (_world, ui) = ui(false).await;
    let body = ui.handle(&Request::get("/?q=%3Cscript%3E")).await.body;
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains("loads &lt;script&gt;alert(1)&lt;/script&gt; nightly"));
    assert!(
        body.contains("value=\"&lt;script&gt;\""),
        "the filter box too"
    );
}

#[tokio::test]
async fn the_filters_keep_only_matching_dags() {
    let (_world, ui) = ui(false).await;
    let rows = |target: &str| {
        let ui = &ui;
        let target = target.to_string();
        async move {
            ui.handle(&Request::get(&target))
                .await
                .body
                .matches("data-dag=")
                .count()
        }
    };
    assert_eq!(rows("/?tag=finance").await, 1);
    assert_eq!(rows("/?tag=ml").await, 0);
    assert_eq!(rows("/?owner=data-team&q=ETL").await, 1);
    assert_eq!(rows("/?owner=someone").await, 0);
    assert_eq!(rows("/?q=nightly").await, 1, "descriptions match too");
}

#[tokio::test]
async fn the_api_gives_the_same_dags_as_json() {
    let (_world, ui) = ui(false).await;
    let answer = ui.handle(&Request::get("/api/v1/dags")).await;
    assert_eq!(answer.content_type, "application/json");
    let value: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let etl = &value["dags"][0];
    assert_eq!(etl["dag"], "etl");
    assert_eq!(etl["timezone"], "Asia/Tokyo");
    assert_eq!(etl["paused"], false);
    assert_eq!(etl["next_run"], "2026-11-21T17:00:00Z");
    assert_eq!(etl["recent"][0]["state"], "running");
    assert_eq!(value["import_errors"], serde_json::json!([]));
}

#[tokio::test]
async fn a_read_only_dashboard_refuses_every_post() {
    let (_world, ui) = ui(true).await;
    let refused = ui.handle(&Request::new("POST", "/dags/etl/pause")).await;
    assert_eq!(refused.status, 403);
    assert_eq!(ui.handle(&Request::get("/nowhere")).await.status, 404);
}

/// The run of `ui`'s world, with its first try dispatched (so it has a bar).
async fn started(world: &World) -> String {
    let message = world.next_message().await.expect("a queued try");
    world.engine.dispatch(&message).await.unwrap();
    message.run_id
}

fn path(dag: &str, run_id: &str) -> String {
    format!("/dags/{dag}/runs/{}", updraft_ui::http::encode(run_id))
}

#[tokio::test]
async fn an_action_without_the_pages_token_is_refused_and_with_it_is_done() {
    let (world, ui) = ui(false).await;
    let forged = ui
        .handle(&Request::post("/dags/etl/pause", "token=guess"))
        .await;
    assert_eq!(forged.status, 403);
    assert!(!world.engine.is_paused("etl").await.unwrap());
    let form = format!("token={}", ui.action_token());
    let done = ui.handle(&Request::post("/dags/etl/pause", &form)).await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some("/dags/etl"))
    );
    assert!(world.engine.is_paused("etl").await.unwrap());
    let page = ui.handle(&Request::get("/")).await.body;
    assert!(page.contains("■ paused") && page.contains(ui.action_token()));
}

#[tokio::test]
async fn the_run_page_draws_the_graph_and_a_bar_per_started_try() {
    let (world, ui) = ui(false).await;
    let run_id = started(&world).await;
    let page = ui.handle(&Request::get(&path("etl", &run_id))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg class=\"graph\""));
    assert!(page.body.contains("data-task=\"a\""));
    assert_eq!(
        page.body.matches("class=\"bar\"").count(),
        1,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(" data-live=\"1\""),
        "a running run refreshes itself"
    );
    let grid = ui.handle(&Request::get("/dags/etl")).await.body;
    assert!(grid.contains("<svg class=\"duration\""), "{grid}");
    assert!(grid.contains("tr data-task=\"a\""));
}

#[tokio::test]
async fn the_rerun_dialog_lists_what_it_clears_before_anything_is_cleared() {
    let (world, ui) = ui(false).await;
    let run_id = started(&world).await;
    let dialog = ui
        .handle(&Request::get(&format!(
            "{}/rerun?task=a",
            path("etl", &run_id)
        )))
        .await
        .body;
    assert!(dialog.contains("data-cleared=\"a\""), "{dialog}");
    let detail = world.engine.run_detail("etl", &run_id).await.unwrap();
    assert_eq!(
        detail.instances[0].try_number, 1,
        "a preview changes nothing"
    );
    let form = format!("token={}&task=a", ui.action_token());
    let done = ui
        .handle(&Request::post(
            &format!("{}/rerun", path("etl", &run_id)),
            &form,
        ))
        .await;
    assert_eq!(done.status, 303);
    let detail = world.engine.run_detail("etl", &run_id).await.unwrap();
    assert_eq!(detail.audit.len(), 1, "the rerun was recorded");
    assert_eq!(detail.audit[0].by, "updraft ui");
}

#[tokio::test]
async fn the_api_answers_in_the_clis_json_shapes() {
    let (world, ui) = ui(false).await;
    let run_id = started(&world).await;
    let answer = ui
        .handle(&Request::get(&format!("/api/v1{}", path("etl", &run_id))))
        .await;
    let detail = world.engine.run_detail("etl", &run_id).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        body,
        updraft_engine::json::to_value(&updraft_engine::json::DetailJson::new(&detail))
    );
    let runs: serde_json::Value =
        serde_json::from_str(&ui.handle(&Request::get("/api/v1/runs?dag=etl")).await.body).unwrap();
    assert_eq!(runs[0]["run_id"], run_id.as_str());
    let missing = ui.handle(&Request::get("/api/v1/dags/etl/runs/nope")).await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("has no run `nope`"),
        "{}",
        missing.body
    );
}

#[tokio::test]
async fn a_backfill_is_previewed_then_made() {
    let (world, ui) = ui(false).await;
    // A GET, which any page can make a browser send, previews nothing.
    let dialog = ui
        .handle(&Request::get(
            "/dags/etl/backfill?from=2026-11-01&to=2026-11-03",
        ))
        .await
        .body;
    assert!(!dialog.contains("<tr data-point="), "{dialog}");
    assert!(dialog.contains("value=\"2026-11-01\""), "{dialog}");
    let range = format!("token={}&from=2026-11-01&to=2026-11-03", ui.action_token());
    let forged = ui
        .handle(&Request::post(
            "/dags/etl/backfill/preview",
            "from=2026-11-01&to=2026-11-03",
        ))
        .await;
    assert_eq!(forged.status, 403, "a preview needs the token");
    let preview = ui
        .handle(&Request::post("/dags/etl/backfill/preview", &range))
        .await
        .body;
    assert_eq!(preview.matches("<tr data-point=").count(), 3, "{preview}");
    assert!(preview.contains("2026-11-01 02:00:00 JST"));
    assert!(preview.contains("create 3 run(s)"));
    let made = ui
        .handle(&Request::post("/dags/etl/backfill", &range))
        .await;
    assert_eq!(made.status, 303);
    let runs = world
        .engine
        .runs(&updraft_engine::ports::RunQuery::default(), None)
        .await
        .unwrap();
    assert_eq!(
        runs.iter()
            .filter(|(r, _)| r.run_id.starts_with("backfill__"))
            .count(),
        3
    );
}

#[tokio::test]
async fn the_runs_list_filters_sorts_and_compares_like_updraft_runs() {
    let (world, ui) = ui(false).await;
    let first = world.engine.runs(&Default::default(), None).await.unwrap()[0]
        .0
        .run_id
        .clone();
    world
        .clock
        .set(updraft_engine::testing::world_start() + chrono::Duration::seconds(60));
    let mut request = RunRequest::by("bo");
    request.labels = vec!["nightly-fix".into()];
    let second = world.engine.trigger("etl", request).await.unwrap().run_id;
    let list = ui
        .handle(&Request::get(
            "/runs?dag=etl&columns=run_id,triggered_by&sort=triggered_by",
        ))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let ana = list.body.find(&format!("data-run=\"{first}\"")).unwrap();
    let bo = list.body.find(&format!("data-run=\"{second}\"")).unwrap();
    assert!(ana < bo, "sorted by triggered_by: ana before bo");
    assert!(
        list.body.contains("sort=-triggered_by"),
        "a second click sorts largest first"
    );
    let labelled = ui
        .handle(&Request::get("/runs?label=nightly-fix"))
        .await
        .body;
    assert_eq!(labelled.matches("<tr data-run=").count(), 1);
    let bad = ui.handle(&Request::get("/runs?state=done")).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("unknown run state `done`"),
        "{}",
        bad.body
    );

    let compare = ui
        .handle(&Request::get(&format!(
            "/dags/etl/compare?run={}&run={}",
            updraft_ui::http::encode(&first),
            updraft_ui::http::encode(&second)
        )))
        .await;
    assert_eq!(compare.status, 200, "{}", compare.body);
    assert!(compare.body.contains("<table class=\"compare\">"));
    assert_eq!(
        ui.handle(&Request::get("/dags/etl/compare?run=x"))
            .await
            .status,
        400,
        "two runs or more"
    );
}

#[tokio::test]
async fn lineage_pages_answer_for_an_artifact_and_a_run() {
    let (world, ui) = ui(false).await;
    let run_id = started(&world).await;
    let artifact = ui
        .handle(&Request::get("/lineage?uri=s3%3A%2F%2Fb%2Fx.parquet"))
        .await;
    assert_eq!(artifact.status, 200);
    assert!(artifact.body.contains("<code>s3://b/x.parquet</code>"));
    let run = ui
        .handle(&Request::get(&format!("{}/lineage", path("etl", &run_id))))
        .await;
    assert_eq!(run.status, 200);
    assert!(run.body.contains("<svg class=\"lineage\""));
}

/// Issue 13: a run past its DAG's `sla` says so on its page and in the API.
#[tokio::test]
async fn a_run_past_its_sla_says_so() {
    use updraft_engine::ports::Clock;
    let world = World::new(
        "dag: etl\nsla: 30m\ntasks:\n  - id: a\n    command: [x]\n",
        None,
        Settings::default(),
    );
    let run = world
        .engine
        .trigger("etl", RunRequest::by("ana"))
        .await
        .unwrap();
    let ui = Ui::new(world.engine.clone(), false);
    let run_page = Request::get(&path("etl", &run.run_id));
    let before = ui.handle(&run_page).await.body;
    assert!(before.contains("sla deadline") && !before.contains(">missed<"));
    world
        .clock
        .set(world.clock.now() + chrono::Duration::minutes(31));
    world.engine.tick().await.unwrap();
    let after = ui.handle(&run_page).await.body;
    assert!(after.contains(">missed</span>"), "{after}");
    let api = ui
        .handle(&Request::get(&format!(
            "/api/v1{}",
            path("etl", &run.run_id)
        )))
        .await;
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert!(json["run"]["deadline_missed_at"].is_string(), "{json}");
}

#[tokio::test]
async fn each_kind_of_failed_action_answers_its_own_status() {
    let (world, ui) = ui(false).await;
    let token = ui.action_token().to_string();
    let post = |target: &str, form: String| {
        let (ui, target) = (&ui, target.to_string());
        async move { ui.handle(&Request::post(&target, &form)).await }
    };
    let backwards = post(
        "/dags/etl/backfill",
        format!("token={token}&from=2026-11-10&to=2026-11-01"),
    )
    .await;
    assert_eq!(backwards.status, 400, "{}", backwards.body);
    assert!(
        backwards.body.contains("from: 2026-11-10 is after"),
        "names the field, not a flag: {}",
        backwards.body
    );
    let unknown = post("/dags/etl/runs/nope/cancel", format!("token={token}")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    // The world's clock stands still: a second manual run at the instant
    // of the first loses the race for its run id.
    let lost = post("/dags/etl/trigger", format!("token={token}")).await;
    assert_eq!(lost.status, 409, "{}", lost.body);
    assert!(lost.body.contains("already exists"), "{}", lost.body);
    let everything = updraft_engine::usecase::RunFilters {
        limit: 100,
        ..Default::default()
    };
    let runs = world.engine.runs_table(&everything).await.unwrap();
    assert_eq!(runs.runs.len(), 1, "nothing made by the refused actions");
}

#[tokio::test]
async fn a_rerun_with_a_map_index_and_no_task_is_refused_as_the_cli_refuses_it() {
    let (world, ui) = ui(false).await;
    let run_id = started(&world).await;
    let form = format!("token={}&map_index=3", ui.action_token());
    let refused = ui
        .handle(&Request::post(
            &format!("{}/rerun", path("etl", &run_id)),
            &form,
        ))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("map_index: a map index needs a task name"),
        "{}",
        refused.body
    );
    let detail = world.engine.run_detail("etl", &run_id).await.unwrap();
    assert!(detail.audit.is_empty(), "nothing was rerun");
}

/// Issue 26: a backfill's range is bounded in years and in runs, each
/// refusal naming its bound, before anything is read per point.
#[tokio::test]
async fn a_backfill_range_is_bounded_in_years_and_runs() {
    let (_world, ui) = ui(false).await;
    let preview = |from: &str, to: &str| {
        let form = format!("token={}&from={from}&to={to}", ui.action_token());
        let ui = &ui;
        async move {
            ui.handle(&Request::post("/dags/etl/backfill/preview", &form))
                .await
        }
    };
    let ancient = preview("0001-01-01", "2026-11-03").await;
    assert_eq!(ancient.status, 400, "{}", ancient.body);
    assert!(
        ancient
            .body
            .contains("0001-01-01 is outside the years 1970 to 2199 a range may name"),
        "{}",
        ancient.body
    );
    let long = preview("1970-01-01", "2026-11-03").await;
    assert_eq!(long.status, 400, "{}", long.body);
    assert!(
        long.body
            .contains("holds more than 2000 schedule points, the most one backfill makes"),
        "{}",
        long.body
    );
    let form = format!("token={}&from=1970-01-01&to=2026-11-03", ui.action_token());
    let made = ui.handle(&Request::post("/dags/etl/backfill", &form)).await;
    assert_eq!(
        made.status, 400,
        "the backfill itself is bounded: {}",
        made.body
    );
}

/// Issue 26: the pause form goes back only to a page of the dashboard.
#[tokio::test]
async fn pausing_goes_back_only_to_a_page_of_the_dashboard() {
    let (_world, ui) = ui(false).await;
    for (back, to) in [
        ("%2Fruns%3Fdag%3Detl", "/runs?dag=etl"),
        ("%2F%5Cevil.example", "/dags/etl"),
        ("%2F%2Fevil.example", "/dags/etl"),
        ("https%3A%2F%2Fevil.example", "/dags/etl"),
        ("%2Fdags%0D%0ASet-Cookie%3A+x", "/dags/etl"),
    ] {
        let form = format!("token={}&back={back}", ui.action_token());
        let done = ui.handle(&Request::post("/dags/etl/pause", &form)).await;
        assert_eq!(done.status, 303, "{back}: {}", done.body);
        assert_eq!(done.location.as_deref(), Some(to), "{back}");
    }
}

/// Issue 26: a viewer sees which variables a try had, not their values;
/// an operator's dashboard started with --show-env shows them.
#[tokio::test]
async fn environment_values_show_only_on_an_operators_dashboard_that_asks() {
    let spec = "dag: env\nparams: { region: eu }\ntasks:\n  - id: a\n    command: [x]\n    environment: { API_KEY: \"s3cret-{{ params.region }}\" }\n";
    let world = World::new(spec, None, Settings::default());
    let run = world
        .engine
        .trigger("env", RunRequest::by("ana"))
        .await
        .unwrap();
    let page = format!(
        "/dags/env/runs/{}/tasks/a",
        updraft_ui::http::encode(&run.run_id)
    );
    let open = |ui: Ui| {
        let page = page.clone();
        async move { ui.handle(&Request::get(&page)).await.body }
    };
    for hidden in [
        open(Ui::new(world.engine.clone(), true).showing_env(true)).await,
        open(Ui::new(world.engine.clone(), false)).await,
    ] {
        assert!(hidden.contains("<code>API_KEY</code>"), "{hidden}");
        assert!(!hidden.contains("s3cret"), "{hidden}");
        assert!(hidden.contains("values hidden"), "{hidden}");
    }
    let shown = open(Ui::new(world.engine.clone(), false).showing_env(true)).await;
    assert!(shown.contains("<code>API_KEY=s3cret-eu</code>"), "{shown}");
}
