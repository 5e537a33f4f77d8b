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
